import CV4L2
import Glibc
import SkyCore

/// The kernel's streaming queue: driver buffers mapped into our memory, queued
/// and streaming from `init` until `deinit`, which stops the stream, unmaps every
/// buffer and frees them in the driver, so a failed or lost device leaks nothing.
final class V4L2MappedBuffers: V4L2BufferQueue {
    private let handle: V4L2Handle
    private var mappings: [UnsafeRawBufferPointer] = []
    private var streaming = false

    /// Asks for `count` buffers (the driver may grant a different number).
    init(handle: V4L2Handle, count: Int) throws(CaptureError) {
        self.handle = handle
        let path = handle.path
        var request = v4l2_requestbuffers()
        request.count = UInt32(clamping: max(1, count))
        request.type = SKY_BUF_TYPE_VIDEO_CAPTURE
        request.memory = SKY_MEMORY_MMAP
        if let err = handle.ioctl(SKY_VIDIOC_REQBUFS, &request) {
            throw V4L2MappedBuffers.failure(path, "VIDIOC_REQBUFS (memory-mapped streaming)", err)
        }
        guard request.count > 0 else { throw .misconfigured("\(path) granted no capture buffers") }
        // From here on deinit undoes whatever was done, should a step fail.
        for index in 0..<request.count {
            var buffer = v4l2_buffer()
            buffer.index = index
            buffer.type = SKY_BUF_TYPE_VIDEO_CAPTURE
            buffer.memory = SKY_MEMORY_MMAP
            if let err = handle.ioctl(SKY_VIDIOC_QUERYBUF, &buffer) {
                throw V4L2MappedBuffers.failure(path, "VIDIOC_QUERYBUF \(index)", err)
            }
            let length = Int(buffer.length)
            guard let address = v4l2_mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, handle.fd,
                                          Int64(buffer.m.offset)),
                  address != MAP_FAILED else {
                let err = errno
                throw V4L2MappedBuffers.failure(path, "mmap of buffer \(index) (\(length) bytes)", err)
            }
            mappings.append(UnsafeRawBufferPointer(start: address, count: length))
        }
        for index in mappings.indices { try requeue(index) }
        var type = Int32(bitPattern: SKY_BUF_TYPE_VIDEO_CAPTURE)
        if let err = handle.ioctl(SKY_VIDIOC_STREAMON, &type) {
            throw V4L2MappedBuffers.failure(path, "VIDIOC_STREAMON", err)
        }
        streaming = true
    }

    deinit {
        if streaming {
            var type = Int32(bitPattern: SKY_BUF_TYPE_VIDEO_CAPTURE)
            _ = handle.ioctl(SKY_VIDIOC_STREAMOFF, &type)
        }
        for mapping in mappings {
            if let base = mapping.baseAddress { v4l2_munmap(UnsafeMutableRawPointer(mutating: base), mapping.count) }
        }
        var release = v4l2_requestbuffers()
        release.count = 0
        release.type = SKY_BUF_TYPE_VIDEO_CAPTURE
        release.memory = SKY_MEMORY_MMAP
        _ = handle.ioctl(SKY_VIDIOC_REQBUFS, &release)
    }

    var count: Int { mappings.count }

    func memory(of index: Int) -> UnsafeRawBufferPointer? {
        mappings.indices.contains(index) ? mappings[index] : nil
    }

    func waitForFrame(milliseconds: Int32) -> V4L2WaitOutcome {
        var descriptor = pollfd(fd: handle.fd, events: Int16(POLLIN), revents: 0)
        let started = MonotonicClock.nanoseconds()
        var remaining = milliseconds
        while true {
            let r = poll(&descriptor, 1, remaining)
            if r > 0 {
                let bad = Int16(POLLERR) | Int16(POLLHUP) | Int16(POLLNVAL)
                if descriptor.revents & bad != 0 {
                    return .failed("\(handle.path) stopped delivering (poll revents 0x\(String(descriptor.revents, radix: 16))): unplugged or driver error")
                }
                return .ready
            }
            if r == 0 { return .timedOut }
            let err = errno
            guard err == EINTR else { return .failed("poll on \(handle.path): \(errnoText(err))") }
            remaining = max(0, milliseconds - Int32(clamping: (MonotonicClock.nanoseconds() - started) / 1_000_000))
        }
    }

    func dequeue() throws(CaptureError) -> V4L2DequeuedBuffer? {
        var buffer = v4l2_buffer()
        buffer.type = SKY_BUF_TYPE_VIDEO_CAPTURE
        buffer.memory = SKY_MEMORY_MMAP
        if let err = handle.ioctl(SKY_VIDIOC_DQBUF, &buffer) {
            if err == EAGAIN { return nil }
            throw V4L2MappedBuffers.lost(handle.path, "VIDIOC_DQBUF", err)
        }
        let monotonic = buffer.flags & SKY_BUF_FLAG_TIMESTAMP_MASK == SKY_BUF_FLAG_TIMESTAMP_MONOTONIC
            && (buffer.timestamp.tv_sec != 0 || buffer.timestamp.tv_usec != 0)
        return V4L2DequeuedBuffer(
            index: Int(buffer.index), bytesUsed: Int(buffer.bytesused),
            isCorrupt: buffer.flags & SKY_BUF_FLAG_ERROR != 0,
            monotonicTimestamp: monotonic
                ? Double(buffer.timestamp.tv_sec) + Double(buffer.timestamp.tv_usec) * 1e-6 : nil,
            sequence: buffer.sequence)
    }

    func requeue(_ index: Int) throws(CaptureError) {
        var buffer = v4l2_buffer()
        buffer.index = UInt32(clamping: index)
        buffer.type = SKY_BUF_TYPE_VIDEO_CAPTURE
        buffer.memory = SKY_MEMORY_MMAP
        if let err = handle.ioctl(SKY_VIDIOC_QBUF, &buffer) {
            throw streaming ? V4L2MappedBuffers.lost(handle.path, "VIDIOC_QBUF \(index)", err)
                : V4L2MappedBuffers.failure(handle.path, "VIDIOC_QBUF \(index)", err)
        }
    }

    /// Once streaming, any failure of the queue means the device is gone or wedged:
    /// closing and reopening is the cure, so it is `.lost` whatever errno says.
    static func lost(_ path: String, _ what: String, _ err: Int32) -> CaptureError {
        .lost("\(path) went away (\(what): \(errnoText(err)))")
    }

    /// Before streaming: a device that vanished (ENODEV, EIO, ENXIO) is lost and may come back;
    /// a driver that refuses a request cannot be fixed by retrying.
    static func failure(_ path: String, _ what: String, _ err: Int32) -> CaptureError {
        switch err {
        case ENODEV, EIO, ENXIO, EPIPE, EBADF:
            .lost("\(path) went away (\(what): \(errnoText(err)))")
        case ENOMEM, EBUSY:
            .unavailable("\(path) cannot stream now (\(what): \(errnoText(err)))")
        default:
            .misconfigured("\(path) refused \(what): \(errnoText(err))")
        }
    }
}

