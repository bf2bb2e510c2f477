import BurrowProtocol

/// `client.toml`: which server to dial, with which token, and which local services to publish.
public struct ClientConfig: Equatable, Sendable {
    /// One published service.
    public struct Proxy: Equatable, Sendable {
        public var name: String
        public var type: ProxyType
        /// The local service, inside the LAN (for a WebSocket service, the host and port of
        /// its URL).
        public var local: Endpoint
        /// Set when the local service speaks WebSocket (`local = "ws://..."` or `"wss://..."`):
        /// each visitor gets a WebSocket connection of its own.
        public var webSocket: WebSocketService?
        /// The public port; nil lets the server pick one of the token's.
        public var remotePort: Int?
        /// For `type = "udp"`: its flows' idle timeout and cap.
        public var udp = UDPFlowSettings()
        /// For `type = "websocket"`: the path visitors upgrade and the messages they get.
        public var webSocketVisitors = WebSocketVisitors()

        public init(name: String, type: ProxyType, local: Endpoint, remotePort: Int?, udp: UDPFlowSettings = UDPFlowSettings()) {
            self.name = name
            self.type = type
            self.local = local
            self.remotePort = remotePort
            self.udp = udp
        }
    }

    /// A local service reached over WebSocket: its URL, how a `wss://` one is verified, and
    /// extra headers on the upgrade request (Host, Origin, Sec-WebSocket-Protocol, ...).
    public struct WebSocketService: Equatable, Sendable {
        /// A `ws://` or `wss://` URL.
        public var url: ServerAddress
        public var tls = TLS()
        public var headers: [WebSocketHeader] = []

        public init(url: ServerAddress) {
            self.url = url
        }
    }

    /// How the client comes back after the link drops.
    public struct Reconnect: Equatable, Sendable {
        /// The first retry waits up to this long (full jitter: a random delay up to it).
        public var initialDelay: Duration = .seconds(1)
        /// The delay doubles per failed attempt up to this cap.
        public var maximumDelay: Duration = .seconds(30)
        /// A session that stayed up this long resets the delay to `initialDelay`.
        public var resetAfter: Duration = .seconds(60)
        /// Whether a refused login (wrong token) is retried like a network failure instead of
        /// ending the client with an error.
        public var retryOnAuthenticationFailure = false

        public init() {}
    }

    /// How a `tls://` or `wss://` server is verified.
    public struct TLS: Equatable, Sendable {
        /// A PEM file of CA certificates to trust instead of the system store.
        public var certificateAuthority: String?
        /// The server certificate's SHA-256, lowercase hex: pinned, it replaces CA verification
        /// (for self-signed servers).
        public var fingerprint: String?
        /// The name to verify (and send as SNI) when it differs from the URL's host.
        public var serverName: String?

        public init() {}
    }

    /// One extra header on the WebSocket upgrade request.
    public struct WebSocketHeader: Equatable, Sendable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }

        /// What is wrong with this header on an upgrade request, if anything: the name must
        /// be a token, the headers the upgrade itself needs cannot be overridden, and a value
        /// may not break the request's lines.
        public static func problem(name: String, value: String) -> String? {
            let reserved: Set<String> = ["connection", "upgrade", "sec-websocket-key", "sec-websocket-version", "content-length", "transfer-encoding"]
            let validName = !name.isEmpty && name.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }
            if !validName { return "\"\(name)\" is not a valid HTTP header name" }
            if reserved.contains(name.lowercased()) { return "\(name) is set by the WebSocket upgrade itself" }
            if value.contains(where: { $0 == "\r" || $0 == "\n" }) { return "the value of \(name) contains a line break" }
            return nil
        }
    }

    public var server: ServerAddress
    public var tls = TLS()
    /// Extra headers on the upgrade request of a ws:// or wss:// server (a CDN's Host, say).
    public var webSocketHeaders: [WebSocketHeader] = []
    public var token: Secret
    /// This client's name: one session per name and token at a time.
    public var name: String
    /// How often to ping the server; three silent intervals end the session.
    public var heartbeatInterval: Duration = .seconds(10)
    /// How long connecting and logging in may take.
    public var handshakeTimeout: Duration = .seconds(10)
    /// How long dialing a local service may take before the visitor is turned away.
    public var localConnectTimeout: Duration = .seconds(5)
    public var reconnect = Reconnect()
    /// Set: the admin API (status, reload, stop) listens here.
    public var admin: AdminSettings?
    public var proxies: [Proxy]

    public init(server: ServerAddress, token: Secret, name: String, proxies: [Proxy]) {
        self.server = server
        self.token = token
        self.name = name
        self.proxies = proxies
    }

    /// Reads and validates a client config; throws `ConfigError` listing every problem.
    public static func parse(_ text: String, file: String? = nil, environment: [String: String]) throws(ConfigError) -> ClientConfig {
        try Self.parse(bytes: Array(text.utf8), file: file, environment: environment)
    }

    /// The same, from the file's bytes (UTF-8; a file that is not gets its line and column).
    public static func parse(bytes: [UInt8], file: String? = nil, environment: [String: String]) throws(ConfigError) -> ClientConfig {
        try ConfigParsing.read(try ConfigParsing.table(bytes, file: file), file: file) { Self.read($0, environment: environment) }
    }

    static func read(_ root: TableReader, environment: [String: String]) -> ClientConfig? {
        let server = Self.readServer(root)
        let token = root.secret("token", environment: environment)
        let name = Self.readName(root, "name", required: true)
        let heartbeat = root.duration("heartbeat_interval")
        let handshake = root.duration("handshake_timeout")
        let localTimeout = root.duration("local_connect_timeout")
        var reconnect = Reconnect()
        if let table = root.table("reconnect") {
            if let value = table.duration("initial_delay") { reconnect.initialDelay = value }
            if let value = table.duration("max_delay") { reconnect.maximumDelay = value }
            if let value = table.duration("reset_after") { reconnect.resetAfter = value }
            if let value = table.bool("retry_on_auth_failure") { reconnect.retryOnAuthenticationFailure = value }
            if reconnect.maximumDelay < reconnect.initialDelay {
                table.report("max_delay", "must not be shorter than initial_delay")
            }
            table.rejectUnknownKeys()
        }
        let tls = root.table("tls").map { Self.readTLS($0, for: server, what: "server") } ?? TLS()
        let headers = root.table("websocket").map { Self.readWebSocket($0, server: server) } ?? []
        let admin = root.table("admin").flatMap { AdminSettings.read($0, environment: environment) }
        var proxies: [Proxy] = []
        for reader in root.tables("proxies") {
            if let proxy = Self.readProxy(reader) {
                if proxies.contains(where: { $0.name == proxy.name }) {
                    reader.report("name", "proxy name \"\(proxy.name)\" is used twice")
                } else if let port = proxy.remotePort, proxies.contains(where: { $0.remotePort == port && $0.type == proxy.type }) {
                    // TCP 53 and UDP 53 are two ports: only the same protocol clashes.
                    reader.report("remote_port", "\(proxy.type) port \(port) is already used by another proxy")
                } else {
                    proxies.append(proxy)
                }
            }
            reader.rejectUnknownKeys()
        }
        root.rejectUnknownKeys()
        guard let server, let token, let name else { return nil }
        var config = ClientConfig(server: server, token: token, name: name, proxies: proxies)
        if let heartbeat { config.heartbeatInterval = heartbeat }
        if let handshake { config.handshakeTimeout = handshake }
        if let localTimeout { config.localConnectTimeout = localTimeout }
        config.reconnect = reconnect
        config.tls = tls
        config.webSocketHeaders = headers.map { WebSocketHeader(name: $0.0, value: $0.1) }
        config.admin = admin
        return config
    }

    /// `server = "tcp://host:port"` (or tls://, ws://, wss://).
    private static func readServer(_ root: TableReader) -> ServerAddress? {
        guard let text = root.string("server", required: true) else { return nil }
        let schemes = ServerAddress.Scheme.allCases.map { "\($0.rawValue)://" }.joined(separator: ", ")
        guard let separator = text.firstRange(of: "://") else {
            root.report("server", "expected a URL such as \"tcp://example.com:7000\" or \"wss://example.com/burrow\", got \"\(text)\"")
            return nil
        }
        let schemeText = String(text[..<separator.lowerBound])
        guard let scheme = ServerAddress.Scheme(rawValue: schemeText) else {
            root.report("server", "unsupported scheme \"\(schemeText)://\" (this build supports \(schemes))")
            return nil
        }
        guard let address = ServerAddress(parsing: text) else {
            let form = scheme.isWebSocket ? "\(schemeText)://host[:port]/path" : "\(schemeText)://host:port (no path)"
            root.report("server", "expected \"\(form)\", got \"\(text)\"")
            return nil
        }
        return address
    }

    /// A `[tls]` table (the session's, or a `wss://` local service's): a CA file or a pinned
    /// fingerprint, and the name to verify. `what` names the URL it belongs to in messages.
    private static func readTLS(_ table: TableReader, for url: ServerAddress?, what: String) -> TLS {
        var tls = TLS()
        tls.certificateAuthority = table.string("ca")
        tls.serverName = table.string("server_name")
        if let text = table.string("fingerprint") {
            tls.fingerprint = Self.parseFingerprint(text)
            if tls.fingerprint == nil {
                table.report("fingerprint", "expected \"sha256:\" and 64 hex digits (as `burrow fingerprint FILE` prints), got \"\(text)\"")
            }
        }
        if tls.certificateAuthority != nil, tls.fingerprint != nil {
            table.report("fingerprint", "give either ca or fingerprint, not both")
        }
        if let url, !url.scheme.usesTLS {
            let schemes = what == "server" ? "tls:// and wss://" : "wss://"
            table.report(nil, "applies to \(schemes) \(what)s only, but \(what) is \(url)")
        }
        table.rejectUnknownKeys()
        return tls
    }

    /// `[websocket] headers = { Host = "..." }`: extra headers on the upgrade request.
    private static func readWebSocket(_ table: TableReader, server: ServerAddress?) -> [(String, String)] {
        let headers = Self.readHeaders(table, "headers")
        if let server, !server.scheme.isWebSocket {
            table.report(nil, "applies to ws:// and wss:// servers only, but server is \(server)")
        }
        table.rejectUnknownKeys()
        return headers
    }

    /// Extra headers on a WebSocket upgrade request, from the inline table `key`. The ones the
    /// upgrade itself needs cannot be overridden.
    private static func readHeaders(_ table: TableReader, _ key: String) -> [(String, String)] {
        var headers: [(String, String)] = []
        for (name, value) in table.stringTable(key) ?? [] {
            if let problem = WebSocketHeader.problem(name: name, value: value) {
                table.report(key, problem)
            } else {
                headers.append((name, value))
            }
        }
        return headers
    }

    /// `sha256:AB:CD:...` or `sha256:abcd...` (the prefix optional): 64 hex digits, lowercased.
    public static func parseFingerprint(_ text: String) -> String? {
        let body = text.lowercased().hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        let hex = body.filter { $0 != ":" }.lowercased()
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        return hex
    }

    /// Names appear in logs and on the wire: letters, digits, `-`, `_`, `.`.
    private static func readName(_ reader: TableReader, _ key: String, required: Bool) -> String? {
        guard let name = reader.string(key, required: required) else { return nil }
        guard Name.isValid(name) else {
            reader.report(key, "\"\(name)\" is not a valid name (\(Name.rule))")
            return nil
        }
        return name
    }

    private static func readProxy(_ reader: TableReader) -> Proxy? {
        let name = Self.readName(reader, "name", required: true)
        var type = ProxyType.tcp
        if let text = reader.string("type") {
            if let parsed = ProxyType(rawValue: text) {
                type = parsed
            } else {
                let supported = ProxyType.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                reader.report("type", "unsupported proxy type \"\(text)\" (this build supports \(supported))")
            }
        }
        let (local, webSocket) = Self.readLocal(reader, type: type)
        if let local, local.port == 0 { reader.report("local", "port 0 is not a service port") }
        let remotePort = reader.port("remote_port")
        var udp = UDPFlowSettings()
        var webSocketVisitors = WebSocketVisitors()
        if type == .udp {
            udp.idleTimeout = reader.duration("idle_timeout") ?? udp.idleTimeout
            udp.maximumFlows = reader.integer("max_flows", in: 1...1_000_000) ?? udp.maximumFlows
        } else {
            for key in ["max_flows"] + (type == .websocket ? [] : ["idle_timeout"]) where reader.has(key) {
                _ = reader.value(key)
                reader.report(key, key == "max_flows" ? "applies to type = \"udp\" proxies only" : "applies to type = \"udp\" and \"websocket\" proxies only")
            }
        }
        if type == .websocket {
            webSocketVisitors.idleTimeout = reader.duration("idle_timeout")
            if let path = reader.string("path") {
                if WebSocketVisitors.isValidPath(path) {
                    webSocketVisitors.path = path
                } else {
                    reader.report("path", "expected a path such as \"/socket\" (starting with /, no spaces, at most 1,024 bytes), got \"\(path)\"")
                }
            }
            if let message = reader.string("message") {
                switch message {
                case "binary": webSocketVisitors.textMessages = false
                case "text": webSocketVisitors.textMessages = true
                default: reader.report("message", "expected \"binary\" or \"text\", got \"\(message)\"")
                }
            }
        } else {
            for key in ["path", "message"] where reader.has(key) {
                _ = reader.value(key)
                reader.report(key, "applies to type = \"websocket\" proxies only")
            }
        }
        guard let name, let local, local.port > 0 else { return nil }
        var proxy = Proxy(name: name, type: type, local: local, remotePort: remotePort, udp: udp)
        proxy.webSocket = webSocket
        proxy.webSocketVisitors = webSocketVisitors
        return proxy
    }

    /// `local = "host:port"`, or for a TCP proxy a WebSocket service: `"ws://host[:port]/path"`
    /// or `"wss://..."`, with optional `headers` and (for wss) `tls` tables of its own.
    private static func readLocal(_ reader: TableReader, type: ProxyType) -> (Endpoint?, WebSocketService?) {
        guard let text = reader.string("local", required: true) else { return (nil, nil) }
        guard text.contains("://") else {
            for key in ["headers", "tls"] where reader.has(key) {
                _ = reader.value(key)
                reader.report(key, "applies to ws:// and wss:// local services only")
            }
            guard let endpoint = Endpoint(parsing: text) else {
                reader.report("local", "expected \"host:port\", \"ws://host[:port]/path\" or \"wss://host[:port]/path\", got \"\(text)\"")
                return (nil, nil)
            }
            return (endpoint, nil)
        }
        guard let url = ServerAddress(parsing: text), url.scheme.isWebSocket else {
            reader.report("local", "expected \"host:port\", \"ws://host[:port]/path\" or \"wss://host[:port]/path\", got \"\(text)\"")
            return (nil, nil)
        }
        guard type != .udp else {
            reader.report("local", "a WebSocket service carries a byte stream: it needs type = \"tcp\" or \"websocket\", not \"udp\"")
            return (nil, nil)
        }
        var service = WebSocketService(url: url)
        service.headers = Self.readHeaders(reader, "headers").map { WebSocketHeader(name: $0.0, value: $0.1) }
        if let table = reader.table("tls") { service.tls = Self.readTLS(table, for: url, what: "local service") }
        return (url.endpoint, service)
    }
}
