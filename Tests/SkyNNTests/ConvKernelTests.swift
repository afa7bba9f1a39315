import CSkyKernels
import SkyCore
import Testing
@testable import SkyNN

/// sky_conv_s8 (the AVX2 kernel gathers and widens its rows from the image itself;
/// the others run im2col + GEMM) against Int8Kernels.conv2d, the specification, on
/// random convolutions: 1-4 input channels often (first layers), wide rows (the AVX2
/// kernel's direct path), rectangular kernels,
/// strides, asymmetric padding, groups, row ranges that cut the image anywhere.
@Suite struct ConvKernelTests {
    @Test(arguments: availableGemmKernels())
    func convolutionIsBitExactOnRandomShapes(kernel: Int32) {
        var r = SeededRandom(seed: UInt64(700 + kernel))
        for _ in 0..<60 {
            let t = RandomConvolutionCase(&r, groupsOneIn: 4) { n, r in (0..<n).map { _ in Int8(r.index(255) - 127) } }
            let (got, chosen, _) = t.run(kernel: kernel)
            #expect(chosen.allSatisfy { $0 == kernel })
            #expect(got == t.expected, "kernel \(kernel) \(t.description)")
            if got != t.expected { return }
        }
    }
}
