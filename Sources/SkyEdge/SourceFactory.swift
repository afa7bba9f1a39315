import SkyCapture

/// Builds the frame source a site config names.
public enum SourceFactory {
    public static func make(_ config: SiteConfig) -> FrameSource {
        let s = config.source
        switch s.kind {
        case .v4l2:
            return V4L2FrameSource(configuration: V4L2Configuration(
                devicePath: s.device,
                pixelFormat: s.pixelFormat.flatMap { V4L2PixelFormat(name: $0) },
                exposureSeconds: s.exposure))
        case .fitsDirectory:
            return FITSDirectorySource(directory: s.path ?? ".", mode: s.mode == "replay" ? .replay(loop: s.loop) : .watch,
                                       expectedFrameSize: nil)
        case .simulator:
            fatalError("pending merge")
        }
    }
}
