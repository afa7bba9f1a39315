/// Why the simulator refused a configuration. The message names the field.
public enum SkySimError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// The caller's buffer holds fewer pixels than the frame needs.
    case bufferTooSmall(needed: Int, given: Int)

    public var description: String {
        switch self {
        case let .invalidConfiguration(m): "invalid simulator configuration: \(m)"
        case let .bufferTooSmall(n, g): "frame needs \(n) pixels, buffer holds \(g)"
        }
    }
}
