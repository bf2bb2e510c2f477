/// Who is connected and which public ports are taken, across all sessions of a server.
///
/// One session per client name and token at a time; a port belongs to at most one proxy.
/// An actor, because sessions live on different event loops.
actor SessionRegistry {
    struct Owner: Hashable, Sendable, CustomStringConvertible {
        var client: String
        var proxy: String
        var description: String { "proxy \(self.proxy) of client \(self.client)" }
    }

    struct Key: Hashable, Sendable {
        var token: String
        var client: String
    }

    /// A public port: TCP 53 and UDP 53 are two, held by two proxies at once.
    struct PortKey: Hashable, Sendable, CustomStringConvertible {
        enum Transport: String, Sendable { case tcp, udp }
        var transport: Transport
        var port: Int

        init(_ transport: Transport, _ port: Int) {
            self.transport = transport
            self.port = port
        }

        var description: String { self.transport == .tcp ? "port \(self.port)" : "\(self.transport) port \(self.port)" }
    }

    private var sessions: [Key: ServerSession] = [:]
    private var ports: [PortKey: Owner] = [:]

    /// Registers `session` under `key` unless another holds it.
    func register(_ session: ServerSession, for key: Key) -> ServerSession? {
        if let existing = self.sessions[key], existing !== session { return existing }
        self.sessions[key] = session
        return nil
    }

    /// Replaces a session that failed its liveness check.
    func replace(_ old: ServerSession, with new: ServerSession, for key: Key) -> Bool {
        guard self.sessions[key] == nil || self.sessions[key] === old else { return false }
        self.sessions[key] = new
        return true
    }

    func unregister(_ session: ServerSession, for key: Key) {
        if self.sessions[key] === session { self.sessions[key] = nil }
    }

    /// Reserves `port` for `owner`; returns the current owner when it is taken.
    func reserve(_ port: PortKey, for owner: Owner) -> Owner? {
        if let current = self.ports[port], current != owner { return current }
        self.ports[port] = owner
        return nil
    }

    func release(_ port: PortKey) {
        self.ports[port] = nil
    }
}
