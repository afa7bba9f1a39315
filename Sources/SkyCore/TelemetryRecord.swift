/// The telemetry record schema, version 1. Docs/telemetry.md is its documentation;
/// change both together and bump `TelemetryRecord.schemaVersion` on any
/// incompatible change.

public enum RecordKind: String, Sendable, Codable, CaseIterable {
    case birth, death, status, frame, anomaly, alert

    /// Birth and death describe a connection, not an observation: they are not
    /// written to the outbox and carry sequence number 0 (see Docs/telemetry.md).
    public var isSequenced: Bool { self != .birth && self != .death }
}

/// One message from a node. Exactly one body, matching `kind`, is present.
public struct TelemetryRecord: Sendable, Equatable, Codable {
    public static let schemaVersion = 1

    public var schema: Int
    public var kind: RecordKind
    public var site: String
    public var node: String
    /// The node process's start time in Unix milliseconds: sequence numbers restart at 1 each
    /// boot, and two starts in the same second still get different boots.
    public var boot: UInt64
    /// 1, 2, 3... per (site, node, boot) for sequenced kinds; 0 for birth and death.
    public var seq: UInt64
    /// When the record was made, Unix seconds UTC.
    public var time: Double

    public var frame: FrameReport?
    public var status: StatusReport?
    public var birth: BirthReport?
    public var death: DeathReport?

    public init(kind: RecordKind, address: NodeAddress, boot: UInt64, seq: UInt64, time: Double,
                frame: FrameReport? = nil, status: StatusReport? = nil,
                birth: BirthReport? = nil, death: DeathReport? = nil) {
        self.schema = Self.schemaVersion
        self.kind = kind
        self.site = address.site
        self.node = address.node
        self.boot = boot
        self.seq = seq
        self.time = time
        self.frame = frame
        self.status = status
        self.birth = birth
        self.death = death
    }

    public var address: NodeAddress { NodeAddress(site: site, node: node) }
}

/// One stage of the frame pipeline and how long it took.
public struct StageTiming: Sendable, Equatable, Codable {
    public var stage: String
    public var ms: Double
    public init(stage: String, ms: Double) { self.stage = stage; self.ms = ms }
}

/// A trail as a segment, 0-based pixels.
public struct TrailLine: Sendable, Equatable, Codable {
    public var x0: Double, y0: Double, x1: Double, y1: Double
    public init(x0: Double, y0: Double, x1: Double, y1: Double) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }
}

/// The rest of a frame's quality judgement, beside the summary fields of `FrameReport`
/// (the same measurements `skydiag quality --json` prints). Values that could not be
/// measured (no stars, no zero point) are absent.
public struct FrameQualityDetails: Sendable, Equatable, Codable {
    /// Largest minus smallest level of the background mesh: ADU, or electrons when calibrated with a gain.
    public var backgroundGradient: Double
    /// Sky brightness, mag/arcsec² (with a configured zero point and pixel scale).
    public var skyMagnitude: Double?
    /// Seeing in arcsec (with a configured pixel scale).
    public var fwhmArcsec: Double?
    public var ellipticity: Double?
    /// How much the stars' elongations point one way, 0-1 (tracking error near 1).
    public var ellipticityCoherence: Double?
    /// Median half-flux radius of the stars, px (defocus).
    public var halfFluxRadius: Double?
    public var hotPixels: Int
    /// Columns found bad (their x).
    public var badColumns: [Int]
    public var cosmicRays: Int
    public var trails: [TrailLine]
    /// Cloud per region, in the layout of the site's quality options; absent when no region is judged.
    public var regionCloudy: [Bool]?

    public init(backgroundGradient: Double, skyMagnitude: Double? = nil, fwhmArcsec: Double? = nil, ellipticity: Double? = nil,
                ellipticityCoherence: Double? = nil, halfFluxRadius: Double? = nil, hotPixels: Int = 0, badColumns: [Int] = [],
                cosmicRays: Int = 0, trails: [TrailLine] = [], regionCloudy: [Bool]? = nil) {
        self.backgroundGradient = backgroundGradient; self.skyMagnitude = skyMagnitude; self.fwhmArcsec = fwhmArcsec
        self.ellipticity = ellipticity; self.ellipticityCoherence = ellipticityCoherence; self.halfFluxRadius = halfFluxRadius
        self.hotPixels = hotPixels; self.badColumns = badColumns; self.cosmicRays = cosmicRays; self.trails = trails
        self.regionCloudy = regionCloudy
    }
}

/// What a site measured on one frame, and how the frame fared against its deadline.
public struct FrameReport: Sendable, Equatable, Codable {
    public var frameIndex: UInt64
    public var source: String
    public var dateObs: String?
    public var exptime: Double
    public var width: Int
    public var height: Int
    /// Sky background level and its noise (robust sigma), in ADU.
    public var background: Double
    public var noise: Double
    /// Fraction of pixels at or above the saturation level.
    public var saturatedFraction: Double
    public var stars: Int
    /// Deadline of this frame (the next exposure's start) relative to its arrival, seconds.
    public var deadlineSeconds: Double
    public var elapsedSeconds: Double
    public var deadlineMet: Bool
    public var slackSeconds: Double
    public var stages: [StageTiming]
    /// Optional work dropped to meet the deadline, in the order it was dropped.
    public var shed: [String]
    /// Conditions worth a human's attention, such as `stars_truncated`, `saturated` (over 1% of
    /// pixels), `no_stars`, `deadline_missed` and the quality judgement's flags; Docs/telemetry.md
    /// lists them all.
    public var flags: [String]
    /// The frame-quality judgement (absent from sites that do not judge frames): score
    /// 0-100, verdict `good`/`medium`/`bad`, seeing (median FWHM of good stars, px),
    /// fraction of cloudy regions, number of trails.
    public var score: Int?
    public var verdict: String?
    public var fwhm: Double?
    public var cloudFraction: Double?
    public var trails: Int?
    /// Every other measurement of the judgement (absent where `score` is).
    public var quality: FrameQualityDetails?

    public init(frameIndex: UInt64, source: String, dateObs: String?, exptime: Double,
                width: Int, height: Int, background: Double, noise: Double,
                saturatedFraction: Double, stars: Int, deadlineSeconds: Double,
                elapsedSeconds: Double, deadlineMet: Bool, slackSeconds: Double,
                stages: [StageTiming], shed: [String], flags: [String],
                score: Int? = nil, verdict: String? = nil, fwhm: Double? = nil,
                cloudFraction: Double? = nil, trails: Int? = nil) {
        self.score = score; self.verdict = verdict; self.fwhm = fwhm
        self.cloudFraction = cloudFraction; self.trails = trails
        self.frameIndex = frameIndex; self.source = source; self.dateObs = dateObs
        self.exptime = exptime; self.width = width; self.height = height
        self.background = background; self.noise = noise
        self.saturatedFraction = saturatedFraction; self.stars = stars
        self.deadlineSeconds = deadlineSeconds; self.elapsedSeconds = elapsedSeconds
        self.deadlineMet = deadlineMet; self.slackSeconds = slackSeconds
        self.stages = stages; self.shed = shed; self.flags = flags
    }
}

/// Heartbeat: the node's counters since boot.
public struct StatusReport: Sendable, Equatable, Codable {
    public var framesCaptured: UInt64
    public var framesProcessed: UInt64
    public var recordsPublished: UInt64
    public var recordsAcknowledged: UInt64
    public var recordsDropped: UInt64
    public var outboxDepth: UInt64
    public var deadlineMisses: UInt64
    public var captureErrors: UInt64
    public var lastError: String?
    /// The exposure the frames are taken with now, seconds (absent when unknown: a camera at its driver's setting).
    public var exposure: Double?
    /// The configured seconds between frames (absent: as fast as the source delivers).
    public var cadence: Double?

    public init(framesCaptured: UInt64 = 0, framesProcessed: UInt64 = 0, recordsPublished: UInt64 = 0,
                recordsAcknowledged: UInt64 = 0, recordsDropped: UInt64 = 0, outboxDepth: UInt64 = 0,
                deadlineMisses: UInt64 = 0, captureErrors: UInt64 = 0, lastError: String? = nil,
                exposure: Double? = nil, cadence: Double? = nil) {
        self.framesCaptured = framesCaptured; self.framesProcessed = framesProcessed
        self.recordsPublished = recordsPublished; self.recordsAcknowledged = recordsAcknowledged
        self.recordsDropped = recordsDropped; self.outboxDepth = outboxDepth
        self.deadlineMisses = deadlineMisses; self.captureErrors = captureErrors; self.lastError = lastError
        self.exposure = exposure; self.cadence = cadence
    }
}

/// Sent after every connect: who the node is and what it can do.
public struct BirthReport: Sendable, Equatable, Codable {
    public var board: String
    public var software: String
    public var capabilities: [String]
    public var models: [String]
    public var frameWidth: Int
    public var frameHeight: Int
    /// Exposure and cadence in force when this birth was sent, seconds (see `StatusReport`).
    public var exposure: Double?
    public var cadence: Double?

    public init(board: String, software: String, capabilities: [String], models: [String],
                frameWidth: Int, frameHeight: Int, exposure: Double? = nil, cadence: Double? = nil) {
        self.board = board; self.software = software; self.capabilities = capabilities
        self.models = models; self.frameWidth = frameWidth; self.frameHeight = frameHeight
        self.exposure = exposure; self.cadence = cadence
    }
}

/// The last will (the broker sends it when the node vanishes) or a clean goodbye.
public struct DeathReport: Sendable, Equatable, Codable {
    /// `lost` for the broker-delivered last will, `shutdown` for a clean stop.
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// The hub's cumulative acknowledgement: every sequenced record of `boot` with
/// `seq <= upTo` is stored, so the node may delete them from its outbox.
public struct Acknowledgement: Sendable, Equatable, Codable {
    public var site: String
    public var node: String
    public var boot: UInt64
    public var upTo: UInt64

    public init(site: String, node: String, boot: UInt64, upTo: UInt64) {
        self.site = site; self.node = node; self.boot = boot; self.upTo = upTo
    }
}
