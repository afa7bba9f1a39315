import Dispatch
import Foundation
import SkyCore

/// The sensor's readout: photon (Poisson) noise on the expected electrons,
/// full-well clipping, read noise, gain, bias and the 16-bit converter.
/// Rows are split into fixed bands, each with its own random stream, so the
/// result is the same whether the bands run on one thread or many.
enum Readout {
    static let bandRows = 32

    struct Settings: Sendable {
        var gain: Double
        var readNoise: Double
        var bias: Double
        var fullWell: Double
        var maxADU: Double
        var noise: Bool
        var seed: UInt64
    }

    private struct Buffers: @unchecked Sendable {
        let electrons: UnsafeMutablePointer<Float>
        let output: UnsafeMutablePointer<UInt16>
    }

    static func convert(electrons: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<UInt16>,
                        width: Int, height: Int, settings: Settings) {
        let bands = (height + bandRows - 1) / bandRows
        let buffers = Buffers(electrons: electrons, output: output)
        let work: @Sendable (Int) -> Void = { band in
            let y0 = band * bandRows, y1 = min(height, y0 + bandRows)
            convertBand(buffers.electrons + y0 * width, buffers.output + y0 * width, count: (y1 - y0) * width,
                        settings: settings, band: band)
        }
        if width * height >= 256 * 1024 {
            DispatchQueue.concurrentPerform(iterations: bands, execute: work)
        } else {
            for b in 0..<bands { work(b) }
        }
    }

    private static func convertBand(_ e: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<UInt16>, count: Int,
                                    settings s: Settings, band: Int) {
        var rng = SeededRandom(seed: s.seed, stream: 0x5EAD_0000 &+ UInt64(band))
        let invGain = 1 / s.gain
        let rn = s.readNoise, bias = s.bias, fullWell = s.fullWell, maxADU = s.maxADU
        let twoPi = 2 * Double.pi
        for i in 0..<count {
            let mean = Double(e[i])
            var electrons: Double
            var adu: Double
            if s.noise {
                // One Box-Muller pair per pixel: one deviate for photon noise, one for read noise.
                let r = (-2 * log(rng.uniformPositive())).squareRoot()
                let a = twoPi * rng.uniform()
                let g1 = r * cos(a), g2 = r * sin(a)
                if mean >= 30 {
                    electrons = (mean + mean.squareRoot() * g1 + 0.5).rounded(.down)
                    if electrons < 0 { electrons = 0 }
                } else if mean > 0 {
                    electrons = rng.poisson(mean)
                } else {
                    electrons = 0
                }
                if electrons > fullWell { electrons = fullWell }
                adu = bias + (electrons + rn * g2) * invGain
            } else {
                electrons = mean < fullWell ? mean : fullWell
                adu = bias + electrons * invGain
            }
            adu = (adu + 0.5).rounded(.down)
            if !(adu >= 0) { adu = 0 } else if adu > maxADU { adu = maxADU }
            out[i] = UInt16(adu)
        }
    }
}
