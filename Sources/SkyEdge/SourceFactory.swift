import SkyCapture
import SkyCore
import SkySim

/// Builds the frame source a site config names.
public enum SourceFactory {
    public static func make(_ config: SiteConfig) throws(CaptureError) -> FrameSource {
        let s = config.source
        switch s.kind {
        case .v4l2:
            return V4L2FrameSource(configuration: V4L2Configuration(
                devicePath: s.device,
                pixelFormat: s.pixelFormat.flatMap { V4L2PixelFormat(name: $0) },
                exposureSeconds: s.exposure))
        case .fitsDirectory:
            return FITSDirectorySource(directory: s.path ?? ".", mode: s.mode == "replay" ? .replay(loop: s.loop) : .watch)
        case .simulator:
            // The camera's defects (hot pixels, bad columns, dust) belong to the site, so they follow its name.
            let camera = CameraModel(width: s.width, height: s.height, seed: SeedMixer.label(config.site))
            var conditions = FrameConditions()
            conditions.exposure = s.exposure ?? 30
            conditions.skyBrightness = s.skyBrightness
            conditions.fwhmPixels = s.fwhm
            if s.clouds > 0 { conditions.clouds = Clouds(coverage: s.clouds, seed: s.seed) }
            return try SimulatorSource(configuration: .init(
                scene: .demoField(s.field), camera: camera, conditions: conditions, seed: s.seed,
                startTime: UTCInstant.now(), pacing: s.accelerate == 1 ? .realTime : .accelerated(s.accelerate),
                satelliteChancePerFrame: 0.05, aircraftChancePerFrame: 0.02))
        }
    }
}
