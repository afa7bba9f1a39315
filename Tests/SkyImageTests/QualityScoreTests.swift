import Testing
@testable import SkyImage

/// The documented score rule (FrameQualityJudge.score) on made-up judgements.
@Suite struct QualityScoreTests {
    static func sharpFrame() -> FrameQuality {
        var q = FrameQuality()
        q.stars = 200; q.fwhmPx = 2.5; q.ellipticity = 0.05; q.ellipticityCoherence = 0.1; q.halfFluxRadius = 1.5
        return q
    }

    @Test func aClearSharpFrameIsGood() {
        let (score, flags) = FrameQualityJudge.score(Self.sharpFrame(), QualityOptions())
        #expect(score == 100 && flags.isEmpty)
    }

    @Test func cloudCapsTheVerdict() {
        var q = Self.sharpFrame()
        q.cloudFraction = 0.4   // 50 x 0.4 = 20 off would leave 80: capped at 69, medium
        let (medium, flags) = FrameQualityJudge.score(q, QualityOptions())
        #expect(medium == 69 && flags == ["clouds"])
        q.cloudFraction = 0.6
        #expect(FrameQualityJudge.score(q, QualityOptions()).0 == 39, "over half clouded is bad")
        q.cloudFraction = 0.2
        #expect(FrameQualityJudge.score(q, QualityOptions()) == (90, []))
    }

    @Test func seeingAndShapeAreNotJudgedFromTooFewStars() {
        var q = Self.sharpFrame()
        q.fwhmPx = 12; q.ellipticity = 0.5; q.ellipticityCoherence = 0.9
        #expect(Set(FrameQualityJudge.score(q, QualityOptions()).1) == ["poor_seeing", "elongated", "tracking"])
        q.stars = 3
        #expect(FrameQualityJudge.score(q, QualityOptions()) == (40, ["few_stars"]))
        q.halfFluxRadius = 9   // the median HFR of three detections says nothing about focus
        #expect(FrameQualityJudge.score(q, QualityOptions()).1 == ["few_stars"])
        q.stars = 6   // donuts: focus is judged from fewer stars than seeing needs
        #expect(FrameQualityJudge.score(q, QualityOptions()).1 == ["few_stars", "defocus"])
        q.stars = 3; q.halfFluxRadius = 3; q.ringFraction = 0.8   // bright rings say so whatever their count
        #expect(FrameQualityJudge.score(q, QualityOptions()).1 == ["few_stars", "defocus"])
    }
}
