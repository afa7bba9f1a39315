import Testing
@testable import SkyNN

/// Which peak loop the bench's "% peak" columns and `int8_peak_gmacs_1t` stand on.
@Suite struct Int8PeakChoiceTests {
    @Test func avx2OnlyMachinesKeepTheVpmaddwdPeakEvenWhereAnotherLoopRunsFaster() throws {
        let p = try #require(Benchmark.int8Peak(madd: 40, sequence: 30, u8Sequence: 52, vnni: nil, vnniZmm: nil))
        #expect(p.gmacs == 40)
        #expect(p.method.contains("vpmaddwd") && !p.method.contains("vpdpbusd"))
    }

    @Test func vnniMachinesTakeTheBestLoopThatRan() throws {
        let zmm = try #require(Benchmark.int8Peak(madd: 45, sequence: 33, u8Sequence: 53, vnni: 92, vnniZmm: 152))
        #expect(zmm.gmacs == 152 && zmm.method.contains("512-bit vpdpbusd"))
        // A core whose zmm loop is slower than its ymm one (a single 512-bit port, or a split one).
        let ymm = try #require(Benchmark.int8Peak(madd: 45, sequence: 33, u8Sequence: 53, vnni: 92, vnniZmm: 70))
        #expect(ymm.gmacs == 92 && ymm.method.contains("256-bit vpdpbusd"))
    }

    @Test func noPeakWithoutAVX2() {
        #expect(Benchmark.int8Peak(madd: nil, sequence: nil, u8Sequence: nil, vnni: nil, vnniZmm: nil) == nil)
    }
}
