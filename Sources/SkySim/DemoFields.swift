import Foundation

extension SkyScene {
    /// Numbered fields for demos and tests: field `n` always has the same
    /// centre, name (`FIELD-n`) and stars. Fields 1 to 4 are spread over the
    /// spring sky; higher numbers are placed by a fixed formula.
    public static func demoField(_ number: Int) -> SkyScene {
        let centres: [Int: (Double, Double)] = [1: (150.0, 20.0), 2: (210.5, -12.0), 3: (185.0, 45.0), 4: (240.0, 5.0)]
        let n = max(0, number)
        let centre = centres[n] ?? ((Double(n) * 47.3).truncatingRemainder(dividingBy: 360),
                                    -40 + (Double(n) * 23.7).truncatingRemainder(dividingBy: 100))
        return SkyScene(name: "FIELD-\(n)", seed: 1000 + UInt64(n), centerRA: centre.0, centerDec: centre.1)
    }
}
