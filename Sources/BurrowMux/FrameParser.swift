import NIOCore

/// Cuts a byte stream into yamux frames as it arrives, without ever copying a payload.
///
/// A data frame comes out as its header, then its payload in as many chunks as the bytes
/// arrived in, each a slice of the read it came with. Waiting for whole frames instead would
/// mean appending every partial frame to a buffer, a copy of nearly every byte when frames are
/// larger than socket reads. Only a header split across reads (at most 11 bytes) is copied.
public struct FrameParser: Sendable {
    public enum Event: Equatable, Sendable {
        /// A whole frame without payload, or the header of a data frame whose payload follows
        /// (`length` bytes, in `payload` events).
        case frame(Frame)
        /// Part of the current data frame's payload; `last` ends the frame.
        case payload(ByteBuffer, last: Bool)
    }

    /// Largest data payload accepted in one frame.
    public let maximumDataLength: Int
    private var partialHeader = ByteBuffer()
    private var remainingPayload = 0

    public init(maximumDataLength: Int) {
        self.maximumDataLength = maximumDataLength
    }

    /// The next event from `input`, or nil when `input` is used up.
    public mutating func next(from input: inout ByteBuffer) throws(MuxError) -> Event? {
        if self.remainingPayload > 0 {
            guard input.readableBytes > 0 else { return nil }
            let count = min(self.remainingPayload, input.readableBytes)
            self.remainingPayload -= count
            return .payload(input.readSlice(length: count)!, last: self.remainingPayload == 0)
        }
        let frame: Frame
        if self.partialHeader.readableBytes == 0, input.readableBytes >= Frame.headerSize {
            frame = try Frame.readHeader(from: &input, maximumDataLength: self.maximumDataLength)!
        } else {
            let wanted = Frame.headerSize - self.partialHeader.readableBytes
            var piece = input.readSlice(length: min(wanted, input.readableBytes))!
            self.partialHeader.writeBuffer(&piece)
            guard let whole = try Frame.readHeader(from: &self.partialHeader, maximumDataLength: self.maximumDataLength) else {
                return nil
            }
            self.partialHeader.clear()
            frame = whole
        }
        if frame.kind == .data { self.remainingPayload = Int(frame.length) }
        return .frame(frame)
    }
}

extension Frame {
    /// Reads and checks a 12-byte header; nil (consuming nothing) when fewer bytes are there.
    /// For a data frame the payload is not read: `payload` is empty and `length` says how
    /// long it is.
    static func readHeader(from buffer: inout ByteBuffer, maximumDataLength: Int) throws(MuxError) -> Frame? {
        guard
            let (version, rawKind, rawFlags, streamID, length) = buffer.getMultipleIntegers(
                at: buffer.readerIndex, as: (UInt8, UInt8, UInt16, UInt32, UInt32).self
            )
        else {
            return nil
        }
        guard version == Frame.version else { throw MuxError.unsupportedVersion(version) }
        guard let kind = Frame.Kind(rawValue: rawKind) else { throw MuxError.unknownFrameType(rawKind) }
        if kind == .data, Int(length) > maximumDataLength {
            throw MuxError.frameTooLarge(length, limit: maximumDataLength, streamID: streamID)
        }
        buffer.moveReaderIndex(forwardBy: Frame.headerSize)
        return Frame(kind: kind, flags: Flags(rawValue: rawFlags), streamID: streamID, length: length)
    }
}
