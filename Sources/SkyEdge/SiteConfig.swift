import Foundation
import SkyCapture
import SkyCore
import SkyImage
import Yams

/// Configuration of one `skyedge` process, read from YAML (README.md shows the keys;
/// Tools/demo.sh writes two). Every key but `site` and `node` has a default.
public struct SiteConfig: Sendable, Equatable {
    public enum SourceKind: String, Sendable, Codable { case simulator, fitsDirectory = "fits-directory", v4l2 }

    public struct Source: Sendable, Equatable, Codable {
        public var kind: SourceKind = .simulator
        // simulator
        public var field: Int = 1
        public var seed: UInt64 = 1
        public var width: Int = 1024
        public var height: Int = 1024
        /// Exposure in seconds. The simulator takes 30 s when absent; a V4L2 camera is left
        /// at its driver's setting unless this is given.
        public var exposure: Double?
        /// Seconds from one frame's start to the next (in the same simulated seconds as `exposure`);
        /// absent: as fast as the source delivers. A camera's extra frames are discarded.
        public var cadence: Double?
        /// Simulated seconds per real second (60: a 30 s exposure arrives every 0.5 s).
        public var accelerate: Double = 1
        /// Simulated sky: brightness in mag/arcsec^2, seeing FWHM in pixels, cloud cover 0...1.
        public var skyBrightness: Double = 20.5
        public var fwhm: Double = 2.5
        public var clouds: Double = 0
        // fits-directory
        public var path: String?
        public var mode: String = "watch"
        public var loop: Bool = false
        // v4l2
        public var device: String = "/dev/video0"
        public var pixelFormat: String?
        public init() {}
    }

    public struct Broker: Sendable, Equatable, Codable {
        public var host: String = "127.0.0.1"
        public var port: Int = 1883
        public var username: String?
        public var passwordFile: String?
        public var caFile: String?
        /// Client certificate and key (PEM) when the broker asks for one.
        public var certFile: String?
        public var keyFile: String?
        public init() {}
    }

    /// The durable outbox (Docs/telemetry.md, "Durable outbox").
    public struct Outbox: Sendable, Equatable, Codable {
        /// Default: `outbox-<site>-<node>` next to the config file, else
        /// `/var/lib/skyedge/outbox/<site>-<node>`.
        public var directory: String?
        public var maxBytes: Int = 1 << 30
        /// `every-record` (survives power loss) or `on-rotate` (survives a process crash).
        public var sync: String = "every-record"
        /// Most records sent and not yet acknowledged.
        public var window: Int = 1000
        public init() {}
    }

    /// Commands from the hub (Docs/telemetry.md, "Commands").
    public struct Commands: Sendable, Equatable, Codable {
        /// Program run for `local` commands, with the command's JSON on standard input.
        public var handler: String?
        public var handlerTimeout: Double = 30
        public init() {}
    }

    public struct Pipeline: Sendable, Equatable, Codable {
        public var meshBox: Int = 64
        public var detectSigma: Double = 5
        public var minArea: Int = 5
        public var maxStars: Int = 100_000
        /// Frame slots: two let capture of frame N+1 overlap processing of frame N.
        public var slots: Int = 2
        /// Saturation level in ADU when the frame header has none.
        public var saturation: Int = 65_535
        /// Threads of the frame pipeline, the caller included (row bands, object chunks).
        public var threads: Int = 1
        public init() {}
    }

    /// Master frames from `skydiag calibrate`, applied to every frame before it is judged
    /// (README.md, "Calibration at the site"). Each is optional; none: frames stay raw ADU.
    public struct Calibration: Sendable, Equatable, Codable {
        public var bias: String?
        /// Bias-subtracted dark; scaled by the frame's exposure over its EXPTIME.
        public var dark: String?
        /// Flat normalized to median 1.
        public var flat: String?
        /// Bad-pixel mask (nonzero is bad): those pixels become NaN and are left out.
        public var badPixels: String?
        /// Electrons per ADU; absent: the frame header's GAIN, else the frames stay in ADU.
        public var gain: Double?
        public init() {}

        public var isEmpty: Bool { bias == nil && dark == nil && flat == nil && badPixels == nil && gain == nil }
        /// The configured masters as (key, path), in the order the arena holds them.
        public var masters: [(key: String, path: String)] {
            [("bias", bias), ("dark", dark), ("flat", flat), ("badPixels", badPixels)].compactMap { k, p in p.map { (k, $0) } }
        }
    }

    /// How frames are judged (QualityOptions): where the sky is, how it is cut into cloud
    /// regions, and the optics for arcseconds and sky brightness.
    public struct Quality: Sendable, Equatable, Codable {
        public struct Circle: Sendable, Equatable, Codable {
            public var x: Double, y: Double, radius: Double
            public init(x: Double, y: Double, radius: Double) { self.x = x; self.y = y; self.radius = radius }
        }
        /// All-sky cameras: the circle of sky (0-based pixels); stars and trails outside it are ignored.
        public var skyCircle: Circle?
        /// `grid` (gridColumns x gridRows cells) or `allsky` (a central disc and 4 rings of 8 sectors in the sky circle).
        public var regions: String = "grid"
        public var gridColumns: Int = 4
        public var gridRows: Int = 4
        /// Arcsec per pixel.
        public var pixelScale: Double?
        /// Magnitude giving 1 unit per second of the judged frame (ADU, or electrons when calibrated with a gain).
        public var zeroPoint: Double?
        /// A clear frame of this field (FITS, same camera): each region's cloud is judged against the
        /// stars it shows; without it, against the frame's own best quarter of regions.
        public var clearReference: String?
        public init() {}
    }

    public var site: String
    public var node: String
    /// A profile name from Boards/, or `auto` to detect it.
    public var board: String = "auto"
    public var boardsDirectory: String?
    public var broker = Broker()
    public var source = Source()
    /// Largest frame the memory plan provides for.
    public var maxFrameWidth: Int = 4096
    public var maxFrameHeight: Int = 4096
    public var pipeline = Pipeline()
    public var outbox = Outbox()
    public var commands = Commands()
    public var calibration = Calibration()
    public var quality = Quality()
    /// Seconds between heartbeats.
    public var statusInterval: Double = 10
    /// Least severe log lines written: `info`, `warn` or `error`.
    public var logLevel: String = "info"
    /// Stop after this many frames (demos and tests); nil runs until stopped.
    public var maxFrames: Int?

    public init(site: String, node: String) {
        self.site = site
        self.node = node
    }

    public var address: NodeAddress { NodeAddress(site: site, node: node) }
}

extension SiteConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case site, node, board, boardsDirectory, broker, source, maxFrameWidth, maxFrameHeight, pipeline,
             statusInterval, maxFrames, outbox, commands, logLevel, calibration, quality
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(site: try c.decode(String.self, forKey: .site), node: try c.decode(String.self, forKey: .node))
        board = try c.decodeIfPresent(String.self, forKey: .board) ?? board
        boardsDirectory = try c.decodeIfPresent(String.self, forKey: .boardsDirectory)
        broker = try c.decodeIfPresent(Broker.self, forKey: .broker) ?? broker
        source = try c.decodeIfPresent(Source.self, forKey: .source) ?? source
        maxFrameWidth = try c.decodeIfPresent(Int.self, forKey: .maxFrameWidth) ?? maxFrameWidth
        maxFrameHeight = try c.decodeIfPresent(Int.self, forKey: .maxFrameHeight) ?? maxFrameHeight
        pipeline = try c.decodeIfPresent(Pipeline.self, forKey: .pipeline) ?? pipeline
        statusInterval = try c.decodeIfPresent(Double.self, forKey: .statusInterval) ?? statusInterval
        maxFrames = try c.decodeIfPresent(Int.self, forKey: .maxFrames)
        outbox = try c.decodeIfPresent(Outbox.self, forKey: .outbox) ?? outbox
        commands = try c.decodeIfPresent(Commands.self, forKey: .commands) ?? commands
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? logLevel
        calibration = try c.decodeIfPresent(Calibration.self, forKey: .calibration) ?? calibration
        quality = try c.decodeIfPresent(Quality.self, forKey: .quality) ?? quality
    }
}

// Nested structs decode key by key with defaults, so a config names only what it changes.
extension SiteConfig.Source {
    enum CodingKeys: String, CodingKey {
        case kind, field, seed, width, height, exposure, cadence, accelerate, skyBrightness, fwhm, clouds, path, mode, loop,
             device, pixelFormat
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        kind = try c.decodeIfPresent(SiteConfig.SourceKind.self, forKey: .kind) ?? kind
        field = try c.decodeIfPresent(Int.self, forKey: .field) ?? field
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? width
        height = try c.decodeIfPresent(Int.self, forKey: .height) ?? height
        exposure = try c.decodeIfPresent(Double.self, forKey: .exposure)
        cadence = try c.decodeIfPresent(Double.self, forKey: .cadence)
        accelerate = try c.decodeIfPresent(Double.self, forKey: .accelerate) ?? accelerate
        skyBrightness = try c.decodeIfPresent(Double.self, forKey: .skyBrightness) ?? skyBrightness
        fwhm = try c.decodeIfPresent(Double.self, forKey: .fwhm) ?? fwhm
        clouds = try c.decodeIfPresent(Double.self, forKey: .clouds) ?? clouds
        path = try c.decodeIfPresent(String.self, forKey: .path)
        mode = try c.decodeIfPresent(String.self, forKey: .mode) ?? mode
        loop = try c.decodeIfPresent(Bool.self, forKey: .loop) ?? loop
        device = try c.decodeIfPresent(String.self, forKey: .device) ?? device
        pixelFormat = try c.decodeIfPresent(String.self, forKey: .pixelFormat)
    }
}

extension SiteConfig.Outbox {
    enum CodingKeys: String, CodingKey { case directory, maxBytes, sync, window }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        directory = try c.decodeIfPresent(String.self, forKey: .directory)
        maxBytes = try c.decodeIfPresent(Int.self, forKey: .maxBytes) ?? maxBytes
        sync = try c.decodeIfPresent(String.self, forKey: .sync) ?? sync
        window = try c.decodeIfPresent(Int.self, forKey: .window) ?? window
    }
}

extension SiteConfig.Calibration {
    enum CodingKeys: String, CodingKey { case bias, dark, flat, badPixels, gain }
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    public init(from decoder: Decoder) throws {
        // A misspelt key here would leave frames uncalibrated without a word: refuse it.
        let all = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = all.allKeys.first(where: { CodingKeys(stringValue: $0.stringValue) == nil }) {
            throw DecodingError.dataCorruptedError(forKey: unknown, in: all,
                                                   debugDescription: "unknown key (calibration takes bias, dark, flat, badPixels, gain)")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        bias = try c.decodeIfPresent(String.self, forKey: .bias)
        dark = try c.decodeIfPresent(String.self, forKey: .dark)
        flat = try c.decodeIfPresent(String.self, forKey: .flat)
        badPixels = try c.decodeIfPresent(String.self, forKey: .badPixels)
        gain = try c.decodeIfPresent(Double.self, forKey: .gain)
    }
}

extension SiteConfig.Quality {
    enum CodingKeys: String, CodingKey { case skyCircle, regions, gridColumns, gridRows, pixelScale, zeroPoint, clearReference }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        skyCircle = try c.decodeIfPresent(Circle.self, forKey: .skyCircle)
        regions = try c.decodeIfPresent(String.self, forKey: .regions) ?? regions
        gridColumns = try c.decodeIfPresent(Int.self, forKey: .gridColumns) ?? gridColumns
        gridRows = try c.decodeIfPresent(Int.self, forKey: .gridRows) ?? gridRows
        pixelScale = try c.decodeIfPresent(Double.self, forKey: .pixelScale)
        zeroPoint = try c.decodeIfPresent(Double.self, forKey: .zeroPoint)
        clearReference = try c.decodeIfPresent(String.self, forKey: .clearReference)
    }
}

extension SiteConfig.Commands {
    enum CodingKeys: String, CodingKey { case handler, handlerTimeout }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        handler = try c.decodeIfPresent(String.self, forKey: .handler)
        handlerTimeout = try c.decodeIfPresent(Double.self, forKey: .handlerTimeout) ?? handlerTimeout
    }
}

extension SiteConfig.Broker {
    enum CodingKeys: String, CodingKey { case host, port, username, passwordFile, caFile, certFile, keyFile }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? port
        username = try c.decodeIfPresent(String.self, forKey: .username)
        passwordFile = try c.decodeIfPresent(String.self, forKey: .passwordFile)
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        certFile = try c.decodeIfPresent(String.self, forKey: .certFile)
        keyFile = try c.decodeIfPresent(String.self, forKey: .keyFile)
    }
}

extension SiteConfig.Pipeline {
    enum CodingKeys: String, CodingKey { case meshBox, detectSigma, minArea, maxStars, slots, saturation, threads }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        meshBox = try c.decodeIfPresent(Int.self, forKey: .meshBox) ?? meshBox
        detectSigma = try c.decodeIfPresent(Double.self, forKey: .detectSigma) ?? detectSigma
        minArea = try c.decodeIfPresent(Int.self, forKey: .minArea) ?? minArea
        maxStars = try c.decodeIfPresent(Int.self, forKey: .maxStars) ?? maxStars
        slots = try c.decodeIfPresent(Int.self, forKey: .slots) ?? slots
        saturation = try c.decodeIfPresent(Int.self, forKey: .saturation) ?? saturation
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? threads
    }
}

public enum ConfigError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(p, r): "cannot read config \(p): \(r)"
        case let .invalid(p, r): "invalid config \(p): \(r)"
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(k, c): "missing key '\((c.codingPath + [k]).map(\.stringValue).joined(separator: "."))'"
        case let DecodingError.typeMismatch(t, c): "'\(c.codingPath.map(\.stringValue).joined(separator: "."))' should be \(t)"
        case let DecodingError.valueNotFound(t, c): "'\(c.codingPath.map(\.stringValue).joined(separator: "."))' needs a \(t)"
        case let DecodingError.dataCorrupted(c):
            c.codingPath.isEmpty ? c.debugDescription
                : "'\(c.codingPath.map(\.stringValue).joined(separator: "."))': \(c.debugDescription)"
        default: "\(error)"
        }
    }
}

extension SiteConfig {
    public static func load(path: String) throws -> SiteConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        var config = try parse(text, path: path)
        if config.outbox.directory == nil {
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
            config.outbox.directory = dir.appendingPathComponent("outbox-\(config.site)-\(config.node)").path
        }
        // Masters named relative to the config file, like the outbox, so a site folder moves whole.
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ p: String?) -> String? { p.map { $0.hasPrefix("/") ? $0 : base.appendingPathComponent($0).path } }
        config.calibration.bias = resolve(config.calibration.bias)
        config.calibration.dark = resolve(config.calibration.dark)
        config.calibration.flat = resolve(config.calibration.flat)
        config.calibration.badPixels = resolve(config.calibration.badPixels)
        config.quality.clearReference = resolve(config.quality.clearReference)
        return config
    }

    public static func parse(_ text: String, path: String = "<config>") throws -> SiteConfig {
        let config: SiteConfig
        do { config = try YAMLDecoder().decode(SiteConfig.self, from: text) } catch {
            throw ConfigError.invalid(path: path, reason: ConfigError.describe(error))
        }
        try config.validate(path: path)
        return config
    }

    func validate(path: String) throws {
        func fail(_ r: String) -> ConfigError { .invalid(path: path, reason: r) }
        guard Identifier.isValid(site) else { throw fail("site '\(site)' must be 1-64 letters, digits, '-' or '_'") }
        guard Identifier.isValid(node) else { throw fail("node '\(node)' must be 1-64 letters, digits, '-' or '_'") }
        guard (1...65_535).contains(broker.port) else { throw fail("broker.port \(broker.port) out of range") }
        guard (16...32_768).contains(maxFrameWidth), (16...32_768).contains(maxFrameHeight) else {
            throw fail("maxFrameWidth/maxFrameHeight must be 16...32768")
        }
        guard (1...8).contains(pipeline.slots) else { throw fail("pipeline.slots must be 1...8") }
        guard outbox.maxBytes >= 1 << 20 else { throw fail("outbox.maxBytes must be at least 1 MiB") }
        guard ["every-record", "on-rotate"].contains(outbox.sync) else { throw fail("outbox.sync must be every-record or on-rotate") }
        guard (1...100_000).contains(outbox.window) else { throw fail("outbox.window must be 1...100000") }
        guard commands.handlerTimeout > 0 else { throw fail("commands.handlerTimeout must be positive") }
        guard (8...1024).contains(pipeline.meshBox) else { throw fail("pipeline.meshBox must be 8...1024") }
        guard pipeline.detectSigma > 0, pipeline.minArea >= 1, pipeline.maxStars >= 1 else {
            throw fail("pipeline.detectSigma, minArea and maxStars must be positive")
        }
        guard (1...65_535).contains(pipeline.saturation) else { throw fail("pipeline.saturation must be 1...65535") }
        guard (1...64).contains(pipeline.threads) else { throw fail("pipeline.threads must be 1...64") }
        guard statusInterval > 0 else { throw fail("statusInterval must be positive") }
        if let e = source.exposure, !(e > 0 && e <= 86_400) { throw fail("source.exposure must be 0...86400 seconds") }
        if let reason = CaptureSettings(exposure: effectiveExposure, cadence: source.cadence).problem() {
            throw fail("source.\(reason)")
        }
        guard LogLevel(rawValue: logLevel) != nil else { throw fail("logLevel must be info, warn or error") }
        if let g = calibration.gain, !(g > 0 && g < 1000) { throw fail("calibration.gain must be 0...1000 electrons per ADU") }
        for (key, path) in calibration.masters where path.isEmpty { throw fail("calibration.\(key) is an empty path") }
        guard RegionLayout(name: quality.regions) != nil else { throw fail("quality.regions must be grid or allsky") }
        guard (1...32).contains(quality.gridColumns), (1...32).contains(quality.gridRows) else {
            throw fail("quality.gridColumns and quality.gridRows must be 1...32")
        }
        if let c = quality.skyCircle {
            guard c.radius > 0, c.radius.isFinite, (0...Double(maxFrameWidth)).contains(c.x), (0...Double(maxFrameHeight)).contains(c.y) else {
                throw fail("quality.skyCircle needs a positive radius and a centre inside maxFrameWidth x maxFrameHeight")
            }
        }
        if let s = quality.pixelScale, !(s > 0 && s < 3600) { throw fail("quality.pixelScale must be 0...3600 arcsec per pixel") }
        if let z = quality.zeroPoint, !(z.isFinite && abs(z) < 100) { throw fail("quality.zeroPoint must be a magnitude, -100...100") }
        switch source.kind {
        case .simulator:
            guard source.width <= maxFrameWidth, source.height <= maxFrameHeight, source.width >= 16, source.height >= 16 else {
                throw fail("simulated frame \(source.width)x\(source.height) must be 16 px or more and fit maxFrameWidth x maxFrameHeight")
            }
            guard source.accelerate > 0 else { throw fail("source.accelerate must be positive") }
            guard (10...25).contains(source.skyBrightness), (0.5...50).contains(source.fwhm), (0...1).contains(source.clouds) else {
                throw fail("source.skyBrightness must be 10...25 mag/arcsec^2, source.fwhm 0.5...50 px, source.clouds 0...1")
            }
        case .fitsDirectory:
            guard source.path != nil else { throw fail("source.path is required for a fits-directory source") }
            guard ["watch", "replay"].contains(source.mode) else { throw fail("source.mode must be watch or replay") }
        case .v4l2:
            if let f = source.pixelFormat, V4L2PixelFormat(name: f) == nil {
                throw fail("source.pixelFormat '\(f)' is not one of \(V4L2PixelFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
    }
}

extension SiteConfig {
    /// The exposure the site starts with: the configured one, the simulator's 30 s default,
    /// or nil for a camera left at its driver's setting.
    public var effectiveExposure: Double? { source.exposure ?? (source.kind == .simulator ? 30 : nil) }
    /// Real seconds per second of the site's clock: the simulator runs `accelerate` times faster.
    public var timeScale: Double { source.kind == .simulator ? source.accelerate : 1 }
}
