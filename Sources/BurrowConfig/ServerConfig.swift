
/// `server.toml`: where clients connect, and which token may open which public ports.
public struct ServerConfig: Equatable, Sendable {
    /// One client credential and the public ports it may open.
    public struct TokenRule: Equatable, Sendable {
        public var name: String
        public var token: Secret
        public var ports: PortSet

        public init(name: String, token: Secret, ports: PortSet) {
            self.name = name
            self.token = token
            self.ports = ports
        }
    }

    /// The tunnel port's certificate: with it, clients connect over TLS (`tls://`).
    public struct TLS: Equatable, Sendable {
        /// PEM certificate (chain) file.
        public var certificate: String
        /// PEM private key file.
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// A second listener for clients that come over WebSocket (through nginx or a CDN).
    public struct WebSocket: Equatable, Sendable {
        /// Where it listens for HTTP.
        public var bind: Endpoint
        /// The path that upgrades to a session; every other path gets 404.
        public var path: String = "/"
        /// Whether it speaks TLS itself (wss://); by default it does when `[tls]` is set. A
        /// proxy in front that terminates TLS wants it off.
        public var tls: Bool

        public init(bind: Endpoint, path: String = "/", tls: Bool) {
            self.bind = bind
            self.path = path
            self.tls = tls
        }
    }

    /// Where clients connect.
    public var bind: Endpoint
    /// Set: clients may also connect over WebSocket.
    public var webSocket: WebSocket?
    /// Set: the tunnel port speaks TLS.
    public var tls: TLS?
    /// The address public ports listen on; nil: the host of `bind`.
    public var proxyBindHost: String?
    /// How long a new connection may take to send its preamble and log in.
    public var handshakeTimeout: Duration = .seconds(10)
    /// How often to ping each client; three silent intervals end its session.
    public var heartbeatInterval: Duration = .seconds(10)
    /// How many connections may be open that have not logged in yet; more are closed at once.
    public var maxPendingLogins = 256
    /// The same, from one source address.
    public var maxPendingLoginsPerAddress = 32
    /// Set: the admin API (status, reload, stop) listens here.
    public var admin: AdminSettings?
    public var tokens: [TokenRule]

    public init(bind: Endpoint, tokens: [TokenRule]) {
        self.bind = bind
        self.tokens = tokens
    }

    /// Reads and validates a server config; throws `ConfigError` listing every problem.
    public static func parse(_ text: String, file: String? = nil, environment: [String: String]) throws(ConfigError) -> ServerConfig {
        try Self.parse(bytes: Array(text.utf8), file: file, environment: environment)
    }

    /// The same, from the file's bytes (UTF-8; a file that is not gets its line and column).
    public static func parse(bytes: [UInt8], file: String? = nil, environment: [String: String]) throws(ConfigError) -> ServerConfig {
        try ConfigParsing.read(try ConfigParsing.table(bytes, file: file), file: file) { Self.read($0, environment: environment) }
    }

    static func read(_ root: TableReader, environment: [String: String]) -> ServerConfig? {
        let bind = root.endpoint("bind", required: true)
        let proxyBindHost = root.string("proxy_bind_address")
        var tls: TLS?
        if let table = root.table("tls") {
            let certificate = table.string("cert", required: true)
            let key = table.string("key", required: true)
            if let certificate, let key { tls = TLS(certificate: certificate, key: key) }
            table.rejectUnknownKeys()
        }
        let webSocketTable = root.table("websocket")
        let webSocket = webSocketTable.flatMap { Self.readWebSocket($0, hasTLS: tls != nil || root.has("tls")) }
        if let webSocket, let bind, webSocket.bind == bind, bind.port != 0 {
            webSocketTable?.report("bind", "\(bind) is already the tunnel port (bind): give the WebSocket listener a port of its own")
        }
        let handshake = root.duration("handshake_timeout")
        let heartbeat = root.duration("heartbeat_interval")
        let pending = root.integer("max_pending_logins", in: 1...1_000_000)
        let pendingPerAddress = root.integer("max_pending_logins_per_address", in: 1...1_000_000)
        let admin = root.table("admin").flatMap { AdminSettings.read($0, environment: environment) }
        var tokens: [TokenRule] = []
        for reader in root.tables("tokens") {
            if let rule = Self.readToken(reader, environment: environment) { tokens.append(rule) }
            reader.rejectUnknownKeys()
        }
        if !root.has("tokens") {
            root.report("tokens", "missing (required: at least one [[tokens]] table)")
        }
        for (index, rule) in tokens.enumerated() {
            if tokens[..<index].contains(where: { $0.name == rule.name }) {
                root.report("tokens", "token name \"\(rule.name)\" is used twice")
            }
            if tokens[..<index].contains(where: { $0.token == rule.token }) {
                root.report("tokens", "token \"\(rule.name)\" has the same secret as another token")
            }
        }
        root.rejectUnknownKeys()
        guard let bind else { return nil }
        var config = ServerConfig(bind: bind, tokens: tokens)
        config.proxyBindHost = proxyBindHost
        config.tls = tls
        config.webSocket = webSocket
        config.admin = admin
        if let handshake { config.handshakeTimeout = handshake }
        if let heartbeat { config.heartbeatInterval = heartbeat }
        if let pending { config.maxPendingLogins = pending }
        if let pendingPerAddress { config.maxPendingLoginsPerAddress = pendingPerAddress }
        return config
    }

    private static func readWebSocket(_ table: TableReader, hasTLS: Bool) -> WebSocket? {
        let bind = table.endpoint("bind", required: true)
        let path = table.string("path") ?? "/"
        if !path.hasPrefix("/") || path.contains(where: { $0 == " " || $0 == "?" || $0 == "#" }) {
            table.report("path", "expected an absolute path such as \"/burrow\", got \"\(path)\"")
        }
        let tls = table.bool("tls") ?? hasTLS
        if tls, !hasTLS {
            table.report("tls", "needs the [tls] table (cert and key)")
        }
        table.rejectUnknownKeys()
        guard let bind else { return nil }
        return WebSocket(bind: bind, path: path, tls: tls)
    }

    private static func readToken(_ reader: TableReader, environment: [String: String]) -> TokenRule? {
        let name = reader.string("name", required: true)
        let token = reader.secret("token", environment: environment)
        let ports = Self.readPorts(reader)
        guard let name, let token, let ports else { return nil }
        return TokenRule(name: name, token: token, ports: ports)
    }

    /// `ports = [6000, "6100-6110"]`.
    private static func readPorts(_ reader: TableReader) -> PortSet? {
        guard let entries = reader.array("ports", required: true) else { return nil }
        guard !entries.isEmpty else {
            reader.report("ports", "must list at least one port or range")
            return nil
        }
        var ranges: [ClosedRange<Int>] = []
        for (path, value) in entries {
            if let port = value.int, (1...65535).contains(port) {
                ranges.append(port...port)
            } else if let text = value.string, let range = Self.parseRange(text) {
                ranges.append(range)
            } else {
                reader.report(at: path, in: "ports", "expected a port (1-65535) or a range \"first-last\", got \(TableReader.describe(value))")
            }
        }
        return ranges.count == entries.count ? PortSet(ranges) : nil
    }

    private static func parseRange(_ text: String) -> ClosedRange<Int>? {
        let parts = text.filter { $0 != " " }.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), 1 <= low, low <= high, high <= 65535 else {
            return nil
        }
        return low...high
    }
}
