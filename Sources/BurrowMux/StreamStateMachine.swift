/// The wire-level life of one stream, as yamux defines it. A pure value: it decides, the
/// session and the stream channel act.
///
/// Opening and closing are tracked apart because they overlap: a stream can be half-closed
/// before its SYN was even acknowledged.
///
/// ```
/// opening:  needsSYN ──send──▶ synSent ──ACK──▶ acknowledged
///           needsACK ──send─────────────────────▶ acknowledged
/// closing:  open ──send FIN──▶ localClosed ──recv FIN──▶ closed
///           open ──recv FIN──▶ remoteClosed ──send FIN──▶ closed
///           any  ──send/recv RST──▶ reset
/// ```
public struct StreamStateMachine: Equatable, Sendable {
    public enum Opening: Equatable, Sendable {
        /// We opened the stream; the next frame we send must carry SYN.
        case needsSYN
        /// We sent SYN and wait for the peer's ACK.
        case synSent
        /// The peer opened the stream; the next frame we send must carry ACK.
        case needsACK
        /// Both sides know the stream.
        case acknowledged
    }

    public enum Closing: Equatable, Sendable {
        case open
        /// We sent FIN: we write no more, the peer may.
        case localClosed
        /// The peer sent FIN: it writes no more, we may.
        case remoteClosed
        /// Both sides sent FIN.
        case closed
        /// Aborted by either side.
        case reset
    }

    /// What an inbound frame's flags did to the stream.
    public enum InboundEffect: Equatable, Sendable {
        case none
        /// The peer finished sending (FIN).
        case remoteFinished
        /// The peer aborted the stream (RST).
        case reset
    }

    public private(set) var opening: Opening
    public private(set) var closing: Closing = .open

    /// A stream this side opens.
    public static func outbound() -> StreamStateMachine { StreamStateMachine(opening: .needsSYN) }
    /// A stream the peer opened.
    public static func inbound() -> StreamStateMachine { StreamStateMachine(opening: .needsACK) }

    private init(opening: Opening) { self.opening = opening }

    /// Whether both directions are finished, so the stream can be forgotten.
    public var isFinished: Bool { self.closing == .closed || self.closing == .reset }
    /// Whether we may still send data.
    public var canSend: Bool { self.closing == .open || self.closing == .remoteClosed }
    /// Whether the peer may still send data.
    public var canReceive: Bool { self.closing == .open || self.closing == .localClosed }

    /// The SYN or ACK the next outbound frame must carry; calling it records that it was sent.
    public mutating func openingFlags() -> Frame.Flags {
        switch self.opening {
        case .needsSYN:
            self.opening = .synSent
            return .syn
        case .needsACK:
            self.opening = .acknowledged
            return .ack
        case .synSent, .acknowledged:
            return []
        }
    }

    /// Records that we send FIN. Returns false when that is not possible any more.
    public mutating func sendFIN() -> Bool {
        switch self.closing {
        case .open: self.closing = .localClosed
        case .remoteClosed: self.closing = .closed
        case .localClosed, .closed, .reset: return false
        }
        return true
    }

    /// Records that we send RST. Returns false when the stream is already finished.
    public mutating func sendRST() -> Bool {
        guard !self.isFinished else { return false }
        self.closing = .reset
        return true
    }

    /// Applies the flags of an inbound frame for this stream. `carriesData` says whether it
    /// is a data frame with a payload (not allowed once the peer has sent FIN).
    public mutating func receive(flags: Frame.Flags, carriesData: Bool, streamID: UInt32) throws(MuxError) -> InboundEffect {
        if flags.contains(.rst) {
            self.closing = .reset
            return .reset
        }
        if flags.contains(.ack), self.opening == .synSent {
            self.opening = .acknowledged
        }
        if carriesData, !self.canReceive {
            throw MuxError.unexpectedFlags(streamID, flags)  // data after the peer's FIN
        }
        guard flags.contains(.fin) else { return .none }
        switch self.closing {
        case .open: self.closing = .remoteClosed
        case .localClosed: self.closing = .closed
        case .remoteClosed, .closed, .reset: throw MuxError.unexpectedFlags(streamID, flags)
        }
        return .remoteFinished
    }
}
