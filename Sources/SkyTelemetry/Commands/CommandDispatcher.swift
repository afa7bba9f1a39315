import Foundation
import SkyCore

/// Acts on the hub's commands for one node and answers each with a `CommandReply`.
///
/// Built in: `resend-from` (rewinds the publisher) and `local` (runs the configured
/// program with the command's JSON on standard input, killed after `localTimeout`; exit 0
/// is `accepted`). Other kinds are accepted only if the runtime registered a handler for
/// them. Expired commands are rejected; a command id seen before gets the same answer again
/// without acting twice. Handlers run on a private queue, never the MQTT network thread.
public final class CommandDispatcher: @unchecked Sendable {
    public typealias Handler = @Sendable (NodeCommand) -> CommandOutcome

    private let publisher: TelemetryPublisher
    // Guarded by `lock` (a config reload changes them).
    private var localProgram: String?
    private var localTimeout: Double
    private let clock: @Sendable () -> Double
    private let queue = DispatchQueue(label: "skyedge commands")
    private let lock = NSLock()
    // Guarded by `lock`.
    private var handlers: [String: Handler] = [:]
    private var answered: [String: CommandOutcome] = [:]
    private var answeredOrder: [String] = []
    private var replies: [CommandReply] = []

    public init(publisher: TelemetryPublisher, localProgram: String?, localTimeout: Double = 30,
                clock: @escaping @Sendable () -> Double = { UTCInstant.now().unixSeconds }) {
        self.publisher = publisher
        self.localProgram = localProgram
        self.localTimeout = localTimeout
        self.clock = clock
        publisher.setCommandHandler { [weak self] payload in
            guard let self else { return }
            self.queue.async { self.handle(payload) }
        }
    }

    /// Handles `kind` (e.g. `set-exposure`, `reload-config`) from now on.
    public func register(_ kind: NodeCommand.Kind, _ handler: @escaping Handler) {
        lock.withLock { handlers[kind.rawValue] = handler }
    }

    /// The program for `local` commands from now on (a config reload).
    public func setLocalProgram(_ program: String?, timeout: Double) {
        lock.withLock { localProgram = program; localTimeout = timeout }
    }

    /// Every reply sent so far (newest last, at most 1000).
    public var sentReplies: [CommandReply] { lock.withLock { replies } }

    func handle(_ payload: [UInt8]) {
        let command: NodeCommand
        do { command = try NodeCommand.decode(payload) } catch {
            reply(id: "", .rejected("\(error)"))
            return
        }
        if let previous = lock.withLock({ answered[command.id] }) {
            reply(id: command.id, previous)
            return
        }
        let outcome = decide(command)
        lock.withLock {
            answered[command.id] = outcome
            answeredOrder.append(command.id)
            if answeredOrder.count > 1000 { answered[answeredOrder.removeFirst()] = nil }
        }
        reply(id: command.id, outcome)
    }

    private func decide(_ c: NodeCommand) -> CommandOutcome {
        guard !c.id.isEmpty, c.id.utf8.count <= 128 else { return .rejected("command id must be 1-128 bytes") }
        guard c.expires.isFinite, c.expires > clock() else { return .rejected("expired") }
        switch NodeCommand.Kind(rawValue: c.kind) {
        case .resendFrom:
            guard let from = c.from, from >= 1 else { return .rejected("resend-from needs from >= 1") }
            let key = OutboxKey(boot: c.boot ?? publisher.boot, seq: from)
            return publisher.resend(from: key) ? .accepted : .rejected("no unacknowledged record from \(key)")
        case .local:
            let (program, timeout) = lock.withLock { (localProgram, localTimeout) }
            guard let program else { return .rejected("no local handler configured") }
            return runLocal(program, timeout: timeout, c)
        case .some(let kind):
            guard let handler = lock.withLock({ handlers[kind.rawValue] }) else {
                return .rejected("\(kind.rawValue) is not supported by this node")
            }
            return handler(c)
        case nil:
            return .rejected("unknown command kind")
        }
    }

    private func runLocal(_ program: String, timeout: Double, _ c: NodeCommand) -> CommandOutcome {
        guard let json = try? c.encoded() else { return .rejected("cannot encode the command") }
        switch LocalProgram.run(program, input: json, timeout: timeout) {
        case let .failedToStart(reason): return .rejected("cannot run \(program): \(reason)")
        case .timedOut: return .rejected("local handler timed out after \(timeout) s")
        case .exited(0, _): return .accepted
        case let .exited(status, firstLine):
            return .rejected("local handler exited with \(status)\(firstLine.isEmpty ? "" : ": " + firstLine)")
        }
    }

    private func reply(id: String, _ outcome: CommandOutcome) {
        let r: CommandReply
        switch outcome {
        case .accepted:
            r = CommandReply(id: id, site: publisher.address.site, node: publisher.address.node,
                             status: CommandReply.accepted, reason: nil, time: clock())
        case let .rejected(reason):
            r = CommandReply(id: id, site: publisher.address.site, node: publisher.address.node,
                             status: CommandReply.rejected, reason: reason, time: clock())
        }
        lock.withLock {
            replies.append(r)
            if replies.count > 1000 { replies.removeFirst() }
        }
        if let payload = try? r.encoded() {
            publisher.publishMessage(topic: Topics.commandReply(publisher.address), payload: payload)
        }
    }
}
