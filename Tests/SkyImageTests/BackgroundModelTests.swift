import Foundation
import Testing
@testable import SkyImage

/// The background model's behaviour on frames with known answers.
@Suite struct BackgroundModelTests {
    /// Deterministic Gaussian noise (Box-Muller over a small LCG).
    struct Noise {
        var state: UInt64
        mutating func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        mutating func gaussian() -> Double {
            (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
        }
    }

    @Test func flatSkyGivesItsLevelAndNoise() throws {
        let image = OwnedImage<Float>(width: 300, height: 200, fill: 0)
        var noise = Noise(state: 7)
        for i in 0..<image.storage.count { image.storage[i] = Float(500 + 10 * noise.gaussian()) }
        let model = try image.withView { try BackgroundModel($0) }
        #expect(model.columns == 5 && model.rows == 4)
        #expect(abs(model.global - 500) < 0.5)
        #expect(abs(model.globalRMS - 10) < 0.3)
    }

    @Test func gradientIsFollowedAndStarsIgnored() throws {
        let w = 512, h = 256
        let image = OwnedImage<Float>(width: w, height: h, fill: 0)
        var noise = Noise(state: 3)
        for y in 0..<h { for x in 0..<w { image[x, y] = Float(100 + 0.2 * Double(x) + 5 * noise.gaussian()) } }
        // Bright stars on a grid must not lift the level.
        for sy in stride(from: 10, to: h, by: 23) {
            for sx in stride(from: 12, to: w, by: 29) {
                for dy in -2...2 { for dx in -2...2 where sx + dx < w && sy + dy < h {
                    image[sx + dx, sy + dy] += Float(2000 * exp(-Double(dx * dx + dy * dy) / 2))
                } }
            }
        }
        let model = try image.withView { try BackgroundModel($0) }
        let map = OwnedImage<Float>(width: w, height: h, fill: 0)
        map.withView { model.fillLevel($0) }
        for x in [40, 200, 333, 470] {
            let truth = 100 + 0.2 * Double(x)
            #expect(abs(Double(map[x, 128]) - truth) < 2, "x \(x): \(map[x, 128]) vs \(truth)")
        }
    }

    @Test func maskedAndNaNBoxesAreFilledFromNeighbours() throws {
        let image = OwnedImage<Float>(width: 256, height: 256, fill: 50)
        var noise = Noise(state: 11)
        for i in 0..<image.storage.count { image.storage[i] = Float(50 + noise.gaussian()) }
        for y in 64..<128 { for x in 64..<128 { image[x, y] = .nan } }
        let model = try image.withView { try BackgroundModel($0) }
        #expect(model.filledBoxes == 1)
        #expect(abs(model.levelMesh[1 * model.columns + 1] - 50) < 0.5)
    }

    @Test func badInputIsRefused() {
        let empty = OwnedImage<Float>(width: 0, height: 0, fill: 0)
        #expect(throws: BackgroundModel.Failure.emptyImage) { try empty.withView { try BackgroundModel($0) } }
        let image = OwnedImage<Float>(width: 10, height: 10, fill: 1)
        var options = BackgroundOptions()
        options.boxWidth = 0
        #expect(throws: BackgroundModel.Failure.self) { try image.withView { try BackgroundModel($0, options: options) } }
    }
}
