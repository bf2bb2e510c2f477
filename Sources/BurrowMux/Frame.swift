import NIOCore

/// One yamux frame: a 12-byte header and, for `.data` frames only, a payload.
///
/// The header's 32-bit `length` field means different things per type (docs/protocol.md):
/// the payload length for `.data`, a window delta for `.windowUpdate`, an opaque value
/// for `.ping` and an error code for `.goAway`. `Frame` keeps that raw field as `length`
/// and offers typed constructors so callers never compute it by hand.
public struct Frame: Equatable, Sendable {
    /// The frame kinds yamux defines, with their wire values.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case data = 0
        case windowUpdate = 1
        case ping = 2
        case goAway = 3
    }

    /// Header flags. SYN opens a stream (or asks a ping), ACK answers either, FIN half-closes,
    /// RST aborts a stream.
    public struct Flags: OptionSet, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let syn = Flags(rawValue: 0x1)
        public static let ack = Flags(rawValue: 0x2)
        public static let fin = Flags(rawValue: 0x4)
        public static let rst = Flags(rawValue: 0x8)

        public var description: String {
            let names = [(Flags.syn, "SYN"), (.ack, "ACK"), (.fin, "FIN"), (.rst, "RST")]
            let set = names.filter { self.contains($0.0) }.map(\.1)
            return set.isEmpty ? "-" : set.joined(separator: "|")
        }
    }

    /// The yamux protocol version; the only one defined.
    public static let version: UInt8 = 0
    /// Size of the fixed header on the wire.
    public static let headerSize = 12

    public var kind: Kind
    public var flags: Flags
    public var streamID: UInt32
    /// The raw header length field (see the type's documentation).
    public var length: UInt32
    /// The payload of a `.data` frame; always empty for the other kinds.
    public var payload: ByteBuffer

    /// Builds a frame from raw fields. Prefer the typed constructors below.
    public init(kind: Kind, flags: Flags, streamID: UInt32, length: UInt32, payload: ByteBuffer = ByteBuffer()) {
        self.kind = kind
        self.flags = flags
        self.streamID = streamID
        self.length = length
        self.payload = payload
    }

    /// A data frame; the header length is the payload's size.
    public static func data(streamID: UInt32, flags: Flags = [], payload: ByteBuffer) -> Frame {
        Frame(kind: .data, flags: flags, streamID: streamID, length: UInt32(payload.readableBytes), payload: payload)
    }

    /// A window update granting `delta` more bytes of credit (SYN/ACK/FIN/RST may ride along).
    public static func windowUpdate(streamID: UInt32, flags: Flags = [], delta: UInt32) -> Frame {
        Frame(kind: .windowUpdate, flags: flags, streamID: streamID, length: delta)
    }

    /// A ping request (`.syn`) or reply (`.ack`) carrying an opaque value.
    public static func ping(flags: Flags, opaque: UInt32) -> Frame {
        Frame(kind: .ping, flags: flags, streamID: 0, length: opaque)
    }

    /// A session shutdown notice.
    public static func goAway(_ code: GoAwayCode) -> Frame {
        Frame(kind: .goAway, flags: [], streamID: 0, length: code.rawValue)
    }
}

/// The error codes a GoAway frame carries.
public enum GoAwayCode: UInt32, Sendable, CustomStringConvertible {
    case normal = 0
    case protocolError = 1
    case internalError = 2

    public var description: String {
        switch self {
        case .normal: "normal"
        case .protocolError: "protocol error"
        case .internalError: "internal error"
        }
    }
}

extension ByteBuffer {
    /// Writes a frame header (12 bytes, big-endian). The payload is not written: callers hand
    /// it to the channel as a separate buffer so it is never copied.
    @inlinable
    public mutating func writeFrameHeader(kind: Frame.Kind, flags: Frame.Flags, streamID: UInt32, length: UInt32) {
        self.writeMultipleIntegers(Frame.version, kind.rawValue, flags.rawValue, streamID, length)
    }

    /// Writes a whole frame, header then payload, into this buffer (copies the payload; for
    /// tests and small control frames).
    public mutating func writeFrame(_ frame: Frame) {
        self.writeFrameHeader(kind: frame.kind, flags: frame.flags, streamID: frame.streamID, length: frame.length)
        var payload = frame.payload
        self.writeBuffer(&payload)
    }
}

extension Frame: CustomStringConvertible {
    public var description: String {
        "\(self.kind)(stream: \(self.streamID), flags: \(self.flags), length: \(self.length))"
    }
}
