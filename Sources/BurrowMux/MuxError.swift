/// Every error the multiplexer reports.
///
/// Errors come in two scopes. A *session* error (bad version, unknown stream, window overrun …)
/// means the peer broke the protocol: the session answers with GoAway(protocol error) and closes,
/// touching nothing else. A *stream* error (reset by peer, refused) ends one stream only.
/// `code` is stable for tests and logs; `description` names the cause in words a user can act on.
public struct MuxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable value.
    public enum Code: String, Hashable, Sendable {
        // Session errors: the peer broke the wire protocol.
        case unsupportedVersion
        case unknownFrameType
        case frameTooLarge
        case invalidSessionFrame
        case unknownStream
        case duplicateStream
        case wrongStreamParity
        case receiveWindowExceeded
        case sendWindowOverflow
        case unexpectedFlags
        // Session lifecycle.
        case goAwayReceived
        case sessionClosed
        case keepAliveTimeout
        case tooManyStreams
        case streamIDsExhausted
        // Stream errors.
        case streamReset
        case streamRefused
        case streamClosed
    }

    public let code: Code
    /// The stream concerned, when there is one.
    public let streamID: UInt32?
    private let detail: String

    init(_ code: Code, streamID: UInt32? = nil, _ detail: String) {
        self.code = code
        self.streamID = streamID
        self.detail = detail
    }

    /// Whether the error ends the whole session (as opposed to one stream).
    public var isSessionError: Bool {
        switch self.code {
        case .streamReset, .streamRefused, .streamClosed, .tooManyStreams, .goAwayReceived, .streamIDsExhausted:
            false
        default:
            true
        }
    }

    public var description: String {
        if let streamID {
            return "\(self.detail) (stream \(streamID))"
        }
        return self.detail
    }

    public static func == (lhs: MuxError, rhs: MuxError) -> Bool {
        lhs.code == rhs.code && lhs.streamID == rhs.streamID
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.streamID)
    }
}

extension MuxError {
    static func unsupportedVersion(_ version: UInt8) -> MuxError {
        MuxError(.unsupportedVersion, "unsupported yamux version \(version) (expected 0)")
    }
    static func unknownFrameType(_ type: UInt8) -> MuxError {
        MuxError(.unknownFrameType, "unknown yamux frame type \(type)")
    }
    static func frameTooLarge(_ length: UInt32, limit: Int, streamID: UInt32) -> MuxError {
        MuxError(.frameTooLarge, streamID: streamID, "data frame of \(length) bytes exceeds the largest window \(limit)")
    }
    static func invalidSessionFrame(_ frame: Frame) -> MuxError {
        MuxError(.invalidSessionFrame, "\(frame.kind) frame must use stream 0 and stream frames must not, got \(frame)")
    }
    static func unknownStream(_ id: UInt32, flags: Frame.Flags) -> MuxError {
        MuxError(.unknownStream, streamID: id, "frame (flags \(flags)) for a stream that was never opened")
    }
    static func duplicateStream(_ id: UInt32) -> MuxError {
        MuxError(.duplicateStream, streamID: id, "SYN reuses the id of a stream that is still open")
    }
    static func wrongParity(_ id: UInt32) -> MuxError {
        MuxError(.wrongStreamParity, streamID: id, "SYN with a stream id of our own parity")
    }
    static func windowExceeded(_ id: UInt32, length: Int, available: Int) -> MuxError {
        MuxError(.receiveWindowExceeded, streamID: id, "peer sent \(length) bytes with only \(available) of receive window left")
    }
    static func windowOverflow(_ id: UInt32) -> MuxError {
        MuxError(.sendWindowOverflow, streamID: id, "window update grows the send window past 2^31-1")
    }
    static func unexpectedFlags(_ id: UInt32, _ flags: Frame.Flags) -> MuxError {
        MuxError(.unexpectedFlags, streamID: id, "unexpected flags \(flags) for the stream's state")
    }
    static func goAway(_ code: UInt32) -> MuxError {
        MuxError(.goAwayReceived, "peer is going away (code \(GoAwayCode(rawValue: code)?.description ?? String(code)))")
    }
    static let sessionClosed = MuxError(.sessionClosed, "the session is closed")
    static func keepAliveTimeout(milliseconds: Int64) -> MuxError {
        let tenths = (milliseconds + 50) / 100
        return MuxError(.keepAliveTimeout, "no frames from the peer for \(tenths / 10).\(tenths % 10) s: the link is dead")
    }
    static func tooManyStreams(_ limit: Int) -> MuxError {
        MuxError(.tooManyStreams, "stream limit of \(limit) reached")
    }
    static let streamIDsExhausted = MuxError(.streamIDsExhausted, "no stream ids left in this session")
    static func streamReset(_ id: UInt32) -> MuxError {
        MuxError(.streamReset, streamID: id, "stream reset by peer")
    }
    static func streamRefused(_ id: UInt32) -> MuxError {
        MuxError(.streamRefused, streamID: id, "peer refused the stream")
    }
    static func streamClosed(_ id: UInt32) -> MuxError {
        MuxError(.streamClosed, streamID: id, "stream is closed")
    }
}
