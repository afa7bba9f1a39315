import SkyCore

/// One buffer the driver handed back (VIDIOC_DQBUF).
struct V4L2DequeuedBuffer {
    var index: Int
    var bytesUsed: Int
    /// The driver flagged the data as corrupt (V4L2_BUF_FLAG_ERROR).
    var isCorrupt: Bool
    /// Monotonic seconds of capture when the driver stamps buffers with CLOCK_MONOTONIC.
    var monotonicTimestamp: Double?
    var sequence: UInt32
}

enum V4L2WaitOutcome {
    case ready
    case timedOut
    /// The device reported an error or hang-up: gone.
    case failed(String)
}

/// The streaming queue between driver and us. The kernel one is `V4L2MappedBuffers`;
/// tests drive `V4L2FrameReader` with an in-memory queue.
protocol V4L2BufferQueue: AnyObject {
    /// The mapped memory of buffer `index`.
    func memory(of index: Int) -> UnsafeRawBufferPointer?
    /// Waits until a buffer can be dequeued, at most `milliseconds`.
    func waitForFrame(milliseconds: Int32) -> V4L2WaitOutcome
    /// Takes the oldest filled buffer; nil when none is ready after all (a spurious wake-up).
    func dequeue() throws(CaptureError) -> V4L2DequeuedBuffer?
    /// Gives a buffer back to the driver to fill again.
    func requeue(_ index: Int) throws(CaptureError)
}

/// A frame written into the caller's slot.
struct V4L2ReadFrame {
    var bufferIndex: Int
    var sequence: UInt32
    var capturedAtMonotonic: Double
}

/// The per-frame cycle: wait, dequeue, convert into the slot, give the buffer back.
/// Every buffer taken is given back, whatever happens to its frame, so the driver
/// never runs dry and a bad frame costs only itself.
struct V4L2FrameReader {
    let device: String
    let layout: V4L2FrameLayout

    func nextFrame(from queue: some V4L2BufferQueue, into slot: UnsafeMutableBufferPointer<UInt16>,
                   timeout: Double) throws(CaptureError) -> V4L2ReadFrame? {
        let deadline = MonotonicClock.seconds() + max(0, timeout.isFinite ? timeout : 0)
        while true {
            let remaining = deadline - MonotonicClock.seconds()
            let milliseconds = Int32(clamping: Int(max(0, min(remaining * 1000, 2_000_000_000)).rounded(.up)))
            switch queue.waitForFrame(milliseconds: milliseconds) {
            case .timedOut: return nil
            case let .failed(message): throw .lost(message)
            case .ready: break
            }
            guard let buffer = try queue.dequeue() else {
                if MonotonicClock.seconds() >= deadline { return nil }
                continue
            }
            let converted = Result<Void, CaptureError> { () throws(CaptureError) in
                try convert(buffer, from: queue, into: slot)
            }
            try queue.requeue(buffer.index)
            try converted.get()
            return V4L2ReadFrame(bufferIndex: buffer.index, sequence: buffer.sequence,
                                 capturedAtMonotonic: buffer.monotonicTimestamp ?? MonotonicClock.seconds())
        }
    }

    private func convert(_ buffer: V4L2DequeuedBuffer, from queue: some V4L2BufferQueue,
                         into slot: UnsafeMutableBufferPointer<UInt16>) throws(CaptureError) {
        guard let memory = queue.memory(of: buffer.index) else {
            throw .lost("\(device) returned unknown buffer \(buffer.index)")
        }
        if buffer.isCorrupt {
            throw .badFrame("\(device) flagged frame \(buffer.sequence) as corrupt")
        }
        try layout.convert(memory, bytesUsed: buffer.bytesUsed, into: slot, device: device)
    }
}
