import NIOCore

/// Cuts a byte stream into yamux frames.
///
/// It checks what can be checked without session state: the version, the frame type, and that
/// a data frame is no larger than the largest window this side could ever grant (so a hostile
/// length cannot make us buffer gigabytes). The payload is a slice of the input: no copy.
/// A data frame is emitted only once its whole payload has arrived, whatever the read sizes.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    /// Largest data payload accepted in one frame.
    public let maximumDataLength: Int

    public init(maximumDataLength: Int) {
        self.maximumDataLength = maximumDataLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        guard
            let (version, rawKind, rawFlags, streamID, length) = buffer.getMultipleIntegers(
                at: buffer.readerIndex,
                as: (UInt8, UInt8, UInt16, UInt32, UInt32).self
            )
        else {
            return nil
        }
        guard version == Frame.version else { throw MuxError.unsupportedVersion(version) }
        guard let kind = Frame.Kind(rawValue: rawKind) else { throw MuxError.unknownFrameType(rawKind) }
        let flags = Frame.Flags(rawValue: rawFlags)

        guard kind == .data else {
            buffer.moveReaderIndex(forwardBy: Frame.headerSize)
            return Frame(kind: kind, flags: flags, streamID: streamID, length: length)
        }
        guard Int(length) <= self.maximumDataLength else {
            throw MuxError.frameTooLarge(length, limit: self.maximumDataLength, streamID: streamID)
        }
        guard buffer.readableBytes >= Frame.headerSize + Int(length) else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: Frame.headerSize)
        let payload = buffer.readSlice(length: Int(length))!
        return Frame(kind: .data, flags: flags, streamID: streamID, length: length, payload: payload)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try self.decode(buffer: &buffer)
    }
}
