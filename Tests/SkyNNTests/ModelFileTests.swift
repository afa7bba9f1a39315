import Foundation
import Testing
@testable import SkyNN

@Suite struct ModelFileTests {
    func tempPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("skynn-\(UUID().uuidString)-\(name)").path
    }

    @Test func roundTripThroughAMappedFileKeepsGraphAndWeights() throws {
        let model = try TestModels.quantized(TestModels.allOps())
        let path = tempPath("allops.skynn")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.write(model, to: path)
        let loaded = try ModelFile.load(path)
        #expect(loaded.name == model.name && loaded.inputShape == model.inputShape)
        #expect(loaded.nodes.count == model.nodes.count)
        for (a, b) in zip(model.nodes, loaded.nodes) {
            #expect(a.op == b.op && a.inputs == b.inputs && a.quant == b.quant && a.name == b.name)
            #expect(a.weights?.int8?.array == b.weights?.int8?.array)
            #expect(a.weights?.float?.array == b.weights?.float?.array)
            #expect(a.weights?.scales?.array == b.weights?.scales?.array)
            #expect(a.weights?.bias?.array == b.weights?.bias?.array)
            if let w = b.weights { #expect(w.int8!.isMapped, "weights are views into the mapping, not copies") }
        }
        let x = TestModels.inputs(model, count: 1, seed: 3)[0]
        #expect(try Int8Reference.run(model, input: x).output == Int8Reference.run(loaded, input: x).output)
        // Sections are 64-byte aligned, so int32/float views are aligned too.
        let bytes = try ModelFile.encode(model)
        let graphOffset: UInt64 = bytes.withUnsafeBytes { readLE($0, 40) }
        #expect(graphOffset % 64 == 0)
    }

    @Test func floatOnlyModelsRoundTrip() throws {
        let model = ModelZoo.realBogus()
        let bytes = try ModelFile.encode(model)
        let loaded = try bytes.withUnsafeBytes { try ModelFile.decode($0, owner: Box(bytes), path: "mem") }
        #expect(!loaded.isQuantized && loaded.hasFloatWeights)
        let x = TestModels.inputs(model, count: 1, seed: 1)[0]
        #expect(try FloatReference.forward(model, input: x) == FloatReference.forward(loaded, input: x))
    }

    final class Box { let b: [UInt8]; init(_ b: [UInt8]) { self.b = b } }

    func decode(_ bytes: [UInt8]) throws -> Model {
        try bytes.withUnsafeBytes { try ModelFile.decode($0, owner: Box(bytes), path: "m.skynn") }
    }

    @Test func truncatedFilesAreRejectedAtEveryLength() throws {
        let bytes = try ModelFile.encode(try TestModels.quantized(TestModels.allOps()))
        for cut in [0, 7, 31, 40, 100, bytes.count / 2, bytes.count - 1] {
            #expect(throws: ModelFileError.self) { try decode(Array(bytes[0..<cut])) }
        }
        do { _ = try decode(Array(bytes[0..<(bytes.count - 1)])); Issue.record("accepted a truncated file") } catch let e as ModelFileError {
            guard case .truncated = e else { Issue.record("expected truncated, got \(e)"); return }
            #expect(e.description.contains("truncated"))
        }
    }

    @Test func corruptBytesBadMagicAndVersionAreReported() throws {
        let bytes = try ModelFile.encode(try TestModels.quantized(TestModels.allOps()))
        var flipped = bytes
        flipped[bytes.count - 200] ^= 0x40   // inside the blob section
        #expect(throws: ModelFileError.self) { try decode(flipped) }
        do { _ = try decode(flipped) } catch let e as ModelFileError { #expect(e.description.contains("checksum")) }
        var magic = bytes; magic[0] = UInt8(ascii: "X")
        #expect(throws: ModelFileError.notAModel(path: "m.skynn")) { try decode(magic) }
        var version = bytes; version[8] = 9
        #expect(throws: ModelFileError.unsupportedVersion(path: "m.skynn", version: 9)) { try decode(version) }
        #expect(throws: ModelFileError.self) { try ModelFile.load("/nonexistent/model.skynn") }
    }

    @Test func inconsistentGraphsAreRejectedWithTheNode() throws {
        var m = TestModels.allOps()
        m.nodes[3].inputs = [7]
        #expect(throws: ModelError.self) { try m.validate() }
        var w = ModelZoo.realBogus()
        w.nodes[1].weights!.float = ParamArray([1, 2, 3])
        do { try w.validate(); Issue.record("accepted wrong weight count") } catch { #expect("\(error)".contains("node 1")) }
        var bad = ModelZoo.autoencoder()
        bad.nodes.append(Node(name: "s", op: .sigmoid, inputs: [bad.nodes.count - 1]))
        bad.nodes.append(Node(name: "s2", op: .sigmoid, inputs: [bad.nodes.count - 1]))
        #expect(throws: ModelError.self) { try bad.shapes() }
    }

    /// A file that would crash the requantization set-up, or make ARM and x86 disagree, is
    /// refused when it is read, with the node named.
    @Test func aLeakyAlphaOutOfRangeAnywhereAndAWeightOfMinus128AreRefused() throws {
        let q = try TestModels.quantized(TestModels.allOps())
        let dense = try #require(q.nodes.firstIndex { if case .dense = $0.op { return true }; return false })
        var leaky = q
        leaky.nodes[dense].op = .dense(outFeatures: try q.shapes()[dense].c, activation: .leaky(alpha: -0.5))
        do { try leaky.validate(); Issue.record("accepted a negative leaky alpha on a dense layer") } catch {
            #expect("\(error)".contains("node \(dense)") && "\(error)".contains("leaky alpha"))
        }
        var minus128 = q
        let original = try #require(minus128.nodes[dense].weights?.int8)
        var w = (0..<original.count).map { original[$0] }
        w[3] = -128
        minus128.nodes[dense].weights!.int8 = ParamArray(w)
        #expect(throws: ModelError.self) { try minus128.validate() }
        #expect(throws: ModelError.self) { try ModelFile.encode(minus128) }
    }
}
