/// MQTT topic names of the telemetry protocol (DESIGN.md section 6, Docs/telemetry.md).
public enum Topics {
    public static let edgeRoot = "skyedge/v1"
    public static let hubState = "skyhub/v1/state"

    /// What a node says: `skyedge/v1/<site>/<node>/<kind>`.
    public static func record(_ a: NodeAddress, _ kind: RecordKind) -> String {
        "\(edgeRoot)/\(a.site)/\(a.node)/\(kind.rawValue)"
    }

    /// What a node is told: `skyedge/v1/<site>/<node>/cmd`.
    public static func command(_ a: NodeAddress) -> String { "\(edgeRoot)/\(a.site)/\(a.node)/cmd" }

    /// The hub's cumulative acknowledgement for one node.
    public static func ack(_ a: NodeAddress) -> String { "skyhub/v1/ack/\(a.site)/\(a.node)" }

    /// Several records of a node in one message (`RecordBatch`): `skyedge/v1/<site>/<node>/batch`.
    public static func batch(_ a: NodeAddress) -> String { "\(edgeRoot)/\(a.site)/\(a.node)/batch" }

    /// The node of a batch topic; nil for any other topic.
    public static func parseBatchTopic(_ topic: String) -> NodeAddress? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "skyedge", parts[1] == "v1", parts[4] == "batch" else { return nil }
        let site = String(parts[2]), node = String(parts[3])
        guard Identifier.isValid(site), Identifier.isValid(node) else { return nil }
        return NodeAddress(site: site, node: node)
    }

    /// Subscription pattern for everything every node says.
    public static let allRecords = "\(edgeRoot)/+/+/+"

    /// Splits `skyedge/v1/<site>/<node>/<kind>`; nil for any other topic (including `cmd`).
    public static func parseRecordTopic(_ topic: String) -> (NodeAddress, RecordKind)? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "skyedge", parts[1] == "v1",
              let kind = RecordKind(rawValue: String(parts[4])) else { return nil }
        let site = String(parts[2]), node = String(parts[3])
        guard Identifier.isValid(site), Identifier.isValid(node) else { return nil }
        return (NodeAddress(site: site, node: node), kind)
    }
}
