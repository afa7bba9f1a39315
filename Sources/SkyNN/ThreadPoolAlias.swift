import SkyCore

/// The pool lives in SkyCore so that image analysis (SkyImage) shares it; the
/// name stays available to SkyNN's users.
public typealias ThreadPool = SkyCore.ThreadPool
