/// One client's session as `/status` shows it: who, from where, since when, and the public
/// ports its proxies hold.
public struct SessionStatus: Equatable, Sendable, Codable {
    public struct Proxy: Equatable, Sendable, Codable {
        public var name: String
        /// `tcp` or `udp`: the protocol of the public port.
        public var `protocol`: String
        public var port: Int
    }

    /// The client's name (from its login).
    public var client: String
    /// The token it logged in with (its name, not its secret).
    public var token: String
    /// Where it connected from (the address nginx forwarded for, behind a proxy).
    public var address: String
    /// When it logged in, in seconds since 1970 (UTC).
    public var since: Int64
    public var proxies: [Proxy]
}
