import Glibc
import Testing
@testable import SkyCapture

/// An in-memory streaming queue standing in for the kernel's: buffers the "driver"
/// fills, a script of what each wait and dequeue sees, and a record of which
/// buffers are queued, so the tests can see that every buffer taken is given back.
private final class ScriptedQueue: V4L2BufferQueue {
    enum Event {
        case frame(index: Int, bytesUsed: Int, corrupt: Bool = false)
        case timeout
        /// poll says readable but DQBUF finds nothing (EAGAIN).
        case spurious
        case pollError
        case dequeueError
    }

    var script: [Event]
    let buffers: [UnsafeMutableRawBufferPointer]
    private(set) var queued: Set<Int>
    private var pending: Event?

    init(bufferCount: Int, bufferBytes: Int, script: [Event]) {
        buffers = (0..<bufferCount).map { _ in
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferBytes, alignment: 16)
            b.initializeMemory(as: UInt8.self, repeating: 0)
            return b
        }
        queued = Set(0..<bufferCount)
        self.script = script
    }

    deinit { buffers.forEach { $0.deallocate() } }

    func memory(of index: Int) -> UnsafeRawBufferPointer? {
        buffers.indices.contains(index) ? UnsafeRawBufferPointer(buffers[index]) : nil
    }

    func waitForFrame(milliseconds: Int32) -> V4L2WaitOutcome {
        guard !script.isEmpty else { return .timedOut }
        let event = script.removeFirst()
        switch event {
        case .timeout: return .timedOut
        case .pollError: return .failed("fake device hung up")
        default: pending = event; return .ready
        }
    }

    func dequeue() throws(CaptureError) -> V4L2DequeuedBuffer? {
        defer { pending = nil }
        switch pending {
        case let .frame(index, bytesUsed, corrupt)?:
            precondition(queued.remove(index) != nil, "driver returned a buffer that was not queued")
            return V4L2DequeuedBuffer(index: index, bytesUsed: bytesUsed, isCorrupt: corrupt,
                                      monotonicTimestamp: 1000 + Double(index), sequence: UInt32(index))
        case .dequeueError?: throw .lost("fake DQBUF: No such device")
        default: return nil
        }
    }

    func requeue(_ index: Int) throws(CaptureError) {
        precondition(queued.insert(index).inserted, "buffer \(index) queued twice")
    }

    var allQueued: Bool { queued.count == buffers.count }
}

private let layout = try! V4L2FrameLayout(pixelFormat: .y10, width: 3, height: 2, bytesPerLine: 8,
                                          sizeImage: 16, device: "/dev/fake0")

/// Fills buffer `index` with a Y10 frame whose pixel (x, y) is `base + 10 y + x`, padding 0xEE.
private func fill(_ queue: ScriptedQueue, _ index: Int, base: UInt16) {
    let b = queue.buffers[index]
    for i in 0..<b.count { b[i] = 0xEE }
    for y in 0..<2 {
        for x in 0..<3 {
            let v = base + UInt16(10 * y + x)
            b[y * 8 + 2 * x] = UInt8(v & 0xFF)
            b[y * 8 + 2 * x + 1] = UInt8(v >> 8)
        }
    }
}

private func read(_ queue: ScriptedQueue, slot: UnsafeMutableBufferPointer<UInt16>,
                  timeout: Double = 1) -> Result<V4L2ReadFrame?, CaptureError> {
    let reader = V4L2FrameReader(device: "/dev/fake0", layout: layout)
    return Result { () throws(CaptureError) in try reader.nextFrame(from: queue, into: slot, timeout: timeout) }
}

private func expectedPixels(base: UInt16) -> [UInt16] {
    [0, 1, 2, 10, 11, 12].map { (base + $0) << 6 }
}

@Test func streamDeliversEachBufferConvertedAndGivesItBack() throws {
    let queue = ScriptedQueue(bufferCount: 3, bufferBytes: 16, script: [
        .frame(index: 0, bytesUsed: 14), .frame(index: 1, bytesUsed: 16), .frame(index: 2, bytesUsed: 14),
        .frame(index: 0, bytesUsed: 14),
    ])
    let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 6)
    defer { slot.deallocate() }
    for (n, index) in [0, 1, 2, 0].enumerated() {
        let base = UInt16(100 * (n + 1))
        fill(queue, index, base: base)
        let frame = try #require(try read(queue, slot: slot).get())
        #expect(frame.bufferIndex == index)
        #expect(frame.capturedAtMonotonic == 1000 + Double(index))
        #expect(Array(slot) == expectedPixels(base: base))
        #expect(queue.allQueued)
    }
}

@Test func timeoutsAndSpuriousWakeupsGiveNil() throws {
    let queue = ScriptedQueue(bufferCount: 2, bufferBytes: 16, script: [.timeout, .spurious, .spurious, .timeout])
    let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 6)
    defer { slot.deallocate() }
    #expect(try read(queue, slot: slot).get() == nil)
    // Two spurious wake-ups are retried within the timeout, then the wait times out.
    #expect(try read(queue, slot: slot).get() == nil)
    #expect(queue.script.isEmpty)
    #expect(queue.allQueued)
}

@Test func badFramesAreReportedAndTheirBuffersRequeued() throws {
    let queue = ScriptedQueue(bufferCount: 2, bufferBytes: 16, script: [
        .frame(index: 0, bytesUsed: 16, corrupt: true), .frame(index: 1, bytesUsed: 13),
        .frame(index: 0, bytesUsed: 14),
    ])
    let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 6)
    defer { slot.deallocate() }
    guard case let .failure(.badFrame(corrupt)) = read(queue, slot: slot) else {
        Issue.record("a frame the driver flags as corrupt is a bad frame"); return
    }
    #expect(corrupt.contains("/dev/fake0"))
    #expect(queue.allQueued)
    guard case .failure(.badFrame) = read(queue, slot: slot) else {
        Issue.record("a short frame is a bad frame"); return
    }
    #expect(queue.allQueued)
    fill(queue, 0, base: 7)
    #expect(try read(queue, slot: slot).get()?.bufferIndex == 0)
    #expect(Array(slot) == expectedPixels(base: 7))
}

@Test func aSlotTooSmallIsReportedAndTheBufferRequeued() {
    let queue = ScriptedQueue(bufferCount: 1, bufferBytes: 16, script: [.frame(index: 0, bytesUsed: 16)])
    let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 5)
    defer { slot.deallocate() }
    guard case .failure(.tooLarge(width: 3, height: 2, capacity: 5)) = read(queue, slot: slot) else {
        Issue.record("expected .tooLarge"); return
    }
    #expect(queue.allQueued)
}

@Test func aVanishingDeviceIsLost() {
    let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 6)
    defer { slot.deallocate() }
    let hungUp = ScriptedQueue(bufferCount: 2, bufferBytes: 16, script: [.pollError])
    guard case .failure(.lost) = read(hungUp, slot: slot) else { Issue.record("poll error must be .lost"); return }
    let unplugged = ScriptedQueue(bufferCount: 2, bufferBytes: 16, script: [.dequeueError])
    guard case .failure(.lost) = read(unplugged, slot: slot) else { Issue.record("DQBUF error must be .lost"); return }
}

@Test func failuresOfTheKernelQueueAreClassified() {
    #expect(V4L2MappedBuffers.failure("/dev/video0", "VIDIOC_DQBUF", ENODEV) == .lost("/dev/video0 went away (VIDIOC_DQBUF: \(errnoText(ENODEV)))"))
    guard case .lost = V4L2MappedBuffers.failure("/dev/video0", "x", EIO) else { Issue.record("EIO is lost"); return }
    guard case .unavailable = V4L2MappedBuffers.failure("/dev/video0", "x", EBUSY) else { Issue.record("EBUSY"); return }
    guard case .misconfigured = V4L2MappedBuffers.failure("/dev/video0", "x", EINVAL) else { Issue.record("EINVAL"); return }
    guard case .lost = V4L2MappedBuffers.lost("/dev/video0", "VIDIOC_QBUF", EINVAL) else { Issue.record("mid-stream"); return }
}
