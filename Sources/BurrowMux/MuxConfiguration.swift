import NIOCore

/// Settings of one multiplexed session. The defaults suit a tunnel: large enough windows for a
/// fast path, bounded memory per stream, a keepalive that notices a dead link in 30 s.
public struct MuxConfiguration: Sendable {
    /// Which end this session is: the dialer opens odd stream ids, the acceptor even ones.
    public var role: StreamIDSpace.Role
    /// The largest receive window a stream may grow to (it starts at 256 KiB).
    public var maximumWindow: UInt32 = 16 * 1024 * 1024
    /// The largest payload this side puts in one data frame. Smaller frames interleave streams
    /// more fairly; larger ones cost fewer headers.
    public var maximumFrameSize: Int = 64 * 1024
    /// How many streams may be open at once; SYNs beyond it are refused with RST.
    public var maximumStreams: Int = 65_536
    /// How often to ping the peer; nil disables pings and the liveness check.
    public var keepAliveInterval: TimeAmount? = .seconds(10)
    /// How many keepalive intervals without a single inbound byte mean the link is dead.
    public var keepAliveMisses: Int = 3

    public init(role: StreamIDSpace.Role) {
        self.role = role
    }
}
