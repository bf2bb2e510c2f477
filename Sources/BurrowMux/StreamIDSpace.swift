/// Which stream ids each side may use, and what an inbound frame's stream id means.
///
/// The dialing side opens odd ids, the accepting side even ones, each allocating upwards; 0 is
/// the session itself. SYNs need not *arrive* in order: hashicorp/yamux allocates ids in one
/// goroutine and sends the SYN from another, so stream 21's SYN may overtake 19's. A SYN is
/// therefore refused only for the wrong parity or an id that is live now. Remembering the next
/// id of ours and the highest id of the peer's is enough to tell a frame for a stream that was
/// never opened (a protocol error) from one for a stream that has since closed (frames still in
/// flight, dropped).
public struct StreamIDSpace: Equatable, Sendable {
    /// Which end of the connection this session is.
    public enum Role: Sendable {
        /// Dialed the connection: opens odd ids.
        case dialer
        /// Accepted the connection: opens even ids.
        case acceptor
    }

    /// What an inbound stream frame refers to.
    public enum Lookup: Equatable, Sendable {
        /// A live stream.
        case live
        /// A new stream the peer opens with this frame.
        case opening
        /// A stream that was opened and has finished: drop the frame.
        case finished
    }

    public let role: Role
    public private(set) var nextLocalID: UInt32
    public private(set) var highestRemoteID: UInt32 = 0

    public init(role: Role) {
        self.role = role
        self.nextLocalID = role == .dialer ? 1 : 2
    }

    /// Whether `id` belongs to the ids this side opens.
    public func isLocal(_ id: UInt32) -> Bool {
        (id % 2 == 1) == (self.role == .dialer)
    }

    /// Allocates the id for a stream this side opens, or nil when the id space is used up.
    public mutating func allocate() -> UInt32? {
        let id = self.nextLocalID
        guard id < UInt32.max - 1 else { return nil }
        self.nextLocalID += 2
        return id
    }

    /// Classifies an inbound stream frame. `isLive` tells whether the session holds the id.
    public mutating func lookup(_ id: UInt32, flags: Frame.Flags, isLive: (UInt32) -> Bool) throws(MuxError) -> Lookup {
        if flags.contains(.syn) {
            guard !self.isLocal(id) else { throw MuxError.wrongParity(id) }
            guard !isLive(id) else { throw MuxError.duplicateStream(id) }
            self.highestRemoteID = max(self.highestRemoteID, id)
            return .opening
        }
        if isLive(id) { return .live }
        let seen = self.isLocal(id) ? id < self.nextLocalID : id <= self.highestRemoteID
        guard seen else { throw MuxError.unknownStream(id, flags: flags) }
        return .finished
    }
}
