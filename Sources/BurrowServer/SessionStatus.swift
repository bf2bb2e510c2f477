import BurrowCore

/// One client's session as `/status` shows it: who, from where and how, since when, how far
/// (a ping's round trip), its proxies with their public ports and traffic, and the session's
/// totals.
public struct SessionStatus: Equatable, Sendable, Codable {
    public struct Proxy: Equatable, Sendable, Codable {
        public var name: String
        /// `tcp` or `udp`: the protocol of the public port.
        public var `protocol`: String
        public var port: Int
        /// Visitors now and in all, bytes each way (in: from visitors), aborts, datagrams.
        public var traffic: ProxyMeter.Snapshot
    }

    /// The client's name (from its login).
    public var client: String
    /// The token it logged in with (its name, not its secret).
    public var token: String
    /// Where it connected from (the address nginx forwarded for, behind a proxy).
    public var address: String
    /// How: tcp, tls, ws or wss.
    public var transport: String
    /// When it logged in, in seconds since 1970 (UTC).
    public var since: Int64
    /// A ping's round trip just now; nil when the client did not answer within a second.
    public var roundTripMicroseconds: Int64?
    /// Visitor streams open now (TCP visitors and UDP flows).
    public var visitors: Int
    /// Bytes from visitors (in) and to visitors (out), summed over the open proxies.
    public var bytesIn: Int
    public var bytesOut: Int
    public var proxies: [Proxy]
}

/// The server's `/status` document: the sessions, and the last ones that ended.
public struct ServerStatus: Equatable, Sendable, Codable {
    public var sessions: [SessionStatus]
    public var recentDisconnects: [DisconnectLog.Entry]
}
