import NIOCore

/// Cuts a byte stream into whole yamux frames, payload included (a slice of the input, no
/// copy). The session itself uses `FrameParser`, which does not wait for whole payloads; this
/// whole-frame form serves tools and tests that want frames as values.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    /// Largest data payload accepted in one frame.
    public let maximumDataLength: Int

    public init(maximumDataLength: Int) {
        self.maximumDataLength = maximumDataLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        var peek = buffer
        guard var frame = try Frame.readHeader(from: &peek, maximumDataLength: self.maximumDataLength) else { return nil }
        if frame.kind == .data {
            guard let payload = peek.readSlice(length: Int(frame.length)) else { return nil }
            frame.payload = payload
        }
        buffer = peek
        return frame
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try self.decode(buffer: &buffer)
    }
}
