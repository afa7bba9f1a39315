import Foundation
import Testing
@testable import SkyImage

/// Background and sources against SEP's own numbers on real frames
/// (SEPReference.swift, written by Tools/compare_sep.py from pip `sep`).
@Suite struct SEPComparisonTests {
    struct Loaded {
        let image: OwnedImage<Float>
        let extractor: SourceExtractor
        let catalog: SourceCatalog
    }

    static func load(_ frame: SEPReference.Frame) throws -> Loaded {
        let file = try FITSFile.open(TestPaths.dataFile(frame.path))
        defer { file.close() }
        let image = try file.readFloat()
        let extractor = SourceExtractor(maxWidth: image.width, maxHeight: image.height)
        let catalog = try image.withView { try extractor.extract($0) }
        return Loaded(image: image, extractor: extractor, catalog: catalog)
    }

    static func reference(_ text: String) -> [(x: Double, y: Double, flux: Double)] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").compactMap { Double($0) }
            return f.count == 3 ? (f[0], f[1], f[2]) : nil
        }
    }

    @Test(arguments: SEPReference.frames.map(\.path))
    func backgroundMatchesSEPWithinOnePercent(path: String) throws {
        guard TestPaths.dataAvailable else { print("skip: ../shared/data absent"); return }
        let frame = SEPReference.frames.first { $0.path == path }!
        let loaded = try Self.load(frame)
        let model = try #require(loaded.extractor.background)
        #expect(abs(Double(model.global) - frame.globalBack) <= 0.01 * abs(frame.globalBack))
        #expect(abs(Double(model.globalRMS) - frame.globalRMS) <= 0.01 * frame.globalRMS)
        let line = UnsafeMutableBufferPointer<Float>.allocate(capacity: model.width)
        let rmsLine = UnsafeMutableBufferPointer<Float>.allocate(capacity: model.width)
        defer { line.deallocate(); rmsLine.deallocate() }
        for sample in frame.mapSamples {
            let x = Int(sample[0]), y = Int(sample[1])
            model.levelRow(y, into: line)
            model.rmsRow(y, into: rmsLine)
            // The map is compared where the global level would hide errors: relative to the rms.
            #expect(abs(Double(line[x]) - sample[2]) <= 0.01 * abs(sample[2]), "level at \(x),\(y)")
            #expect(abs(Double(line[x]) - sample[2]) <= 0.01 * sample[3], "level at \(x),\(y) vs rms")
            #expect(abs(Double(rmsLine[x]) - sample[3]) <= 0.01 * sample[3], "rms at \(x),\(y)")
        }
    }

    @Test(arguments: SEPReference.frames.map(\.path))
    func sourcesMatchSEP(path: String) throws {
        guard TestPaths.dataAvailable else { print("skip: ../shared/data absent"); return }
        let frame = SEPReference.frames.first { $0.path == path }!
        let loaded = try Self.load(frame)
        let reference = Self.reference(frame.catalogue)
        #expect(reference.count > 300)
        let ours = loaded.catalog.sources
        var matched = 0
        var ratios: [Double] = []
        for r in reference {
            var best = Double.infinity, bestIndex = -1
            for (i, s) in ours.enumerated() {
                let d2 = (s.x - r.x) * (s.x - r.x) + (s.y - r.y) * (s.y - r.y)
                if d2 < best { best = d2; bestIndex = i }
            }
            if best <= 1.5 * 1.5 {
                matched += 1
                if r.flux > 0 { ratios.append(ours[bestIndex].flux / r.flux) }
            }
        }
        let fraction = Double(matched) / Double(reference.count)
        ratios.sort()
        let medianRatio = ratios[ratios.count / 2]
        print("\(path): SEP \(reference.count), ours \(ours.count), matched \(String(format: "%.1f", 100 * fraction))%, median flux ratio \(medianRatio)")
        #expect(fraction >= 0.95)
        #expect(abs(medianRatio - 1) <= 0.02)
        // Cleaning and deblending keep the count near SEP's, not 1.8x (as without cleaning).
        #expect(Double(ours.count) < 1.2 * Double(reference.count))
    }
}
