/// A host and port, written `host:port` (`[::1]:7000` for IPv6).
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; nil when it is not of that form or the port is out of range.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        self.init(host: String(host), port: port)
    }

    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// A set of TCP/UDP ports: single ports and inclusive ranges, as written in a token's `ports`.
public struct PortSet: Hashable, Sendable, CustomStringConvertible {
    public private(set) var ranges: [ClosedRange<Int>]

    public init(_ ranges: [ClosedRange<Int>]) {
        self.ranges = ranges
    }

    public func contains(_ port: Int) -> Bool {
        self.ranges.contains { $0.contains(port) }
    }

    /// Every port in the set, in the order written.
    public var ports: some Sequence<Int> { self.ranges.lazy.flatMap { $0 } }

    public var description: String {
        self.ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ", ")
    }
}

/// A secret (a token) that never shows up in logs, `/now` or error messages.
public struct Secret: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
}

/// How the client reaches the server: `tcp://host:port`, `tls://host:port`,
/// `ws://host[:port]/path` or `wss://host[:port]/path`.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Sendable, CaseIterable {
        case tcp
        /// TLS over TCP: the server has `[tls]`.
        case tls
        /// WebSocket: the server has `[websocket]`, or a reverse proxy forwards to it.
        case ws
        /// WebSocket over TLS: the server's `[websocket]` speaks TLS, or a proxy terminates it.
        case wss

        public var usesTLS: Bool { self == .tls || self == .wss }
        public var isWebSocket: Bool { self == .ws || self == .wss }

        /// The port when the URL names none: HTTP's for WebSocket, none for the raw transports.
        public var defaultPort: Int? {
            switch self {
            case .ws: 80
            case .wss: 443
            case .tcp, .tls: nil
            }
        }
    }

    public var scheme: Scheme
    public var endpoint: Endpoint
    /// The HTTP path of a WebSocket URL ("/" when it names none); nil for tcp and tls.
    public var path: String?

    public init(scheme: Scheme, endpoint: Endpoint, path: String? = nil) {
        self.scheme = scheme
        self.endpoint = endpoint
        self.path = scheme.isWebSocket ? (path ?? "/") : nil
    }

    /// Parses a server URL; nil when it is not one of the forms above.
    public init?(parsing text: String) {
        guard let separator = text.firstRange(of: "://"), let scheme = Scheme(rawValue: String(text[..<separator.lowerBound])) else {
            return nil
        }
        var rest = Substring(text[separator.upperBound...])
        var path: String?
        if let slash = rest.firstIndex(of: "/") {
            guard scheme.isWebSocket else { return nil }
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        if let endpoint = Endpoint(parsing: String(rest)), endpoint.port > 0 {
            self.init(scheme: scheme, endpoint: endpoint, path: path)
        } else if let port = scheme.defaultPort, let host = Self.bareHost(rest) {
            self.init(scheme: scheme, endpoint: Endpoint(host: host, port: port), path: path)
        } else {
            return nil
        }
    }

    /// `example.com` or `[::1]`, written without a port: the host alone.
    private static func bareHost(_ text: Substring) -> String? {
        if text.hasPrefix("["), text.hasSuffix("]"), text.count > 2 { return String(text.dropFirst().dropLast()) }
        return text.isEmpty || text.contains(":") ? nil : String(text)
    }

    /// The HTTP Host of a WebSocket URL: the host, with the port unless it is the scheme's
    /// default, an IPv6 address in brackets.
    public var httpHost: String {
        guard self.endpoint.port == self.scheme.defaultPort else { return self.endpoint.description }
        return self.endpoint.host.contains(":") ? "[\(self.endpoint.host)]" : self.endpoint.host
    }

    public var description: String { "\(self.scheme.rawValue)://\(self.endpoint)\(self.path ?? "")" }
}

/// What a proxy carries.
public enum ProxyType: String, Hashable, Sendable, CaseIterable {
    case tcp
    /// Datagrams: each visitor address is a flow of its own.
    case udp
    /// WebSocket visitors (browsers, say) on a TCP port: each upgraded connection is a byte
    /// stream to the local service.
    case websocket
}

/// How a `websocket` proxy's public port speaks to its visitors.
public struct WebSocketVisitors: Hashable, Sendable {
    /// The path that upgrades; other requests get 404 (a plain GET of it, a one-line page).
    public var path = "/"
    /// Whether the service's bytes go to visitors as text messages (for browser apps that
    /// want strings) rather than binary ones. The bytes must then be UTF-8.
    public var textMessages = false
    /// A visitor with no message either way (pings count) for this long is closed with a
    /// close frame (1001); nil: never, as for TCP visitors.
    public var idleTimeout: Duration?

    public init(path: String = "/", textMessages: Bool = false, idleTimeout: Duration? = nil) {
        self.path = path
        self.textMessages = textMessages
        self.idleTimeout = idleTimeout
    }

    /// A path a request line can carry: starts with "/", no spaces or control characters, at
    /// most 1,024 bytes.
    public static func isValidPath(_ path: String) -> Bool {
        path.hasPrefix("/") && path.utf8.count <= 1024 && path.utf8.allSatisfy { $0 > 32 && $0 < 127 }
    }
}

/// How a UDP proxy treats its flows (one per visitor address).
public struct UDPFlowSettings: Equatable, Sendable {
    /// A flow with no datagram either way for this long is closed on both sides.
    public var idleTimeout: Duration = .seconds(60)
    /// Flows alive at once; a new visitor beyond this is dropped (existing flows keep working).
    public var maximumFlows = 4096

    public init(idleTimeout: Duration = .seconds(60), maximumFlows: Int = 4096) {
        self.idleTimeout = idleTimeout
        self.maximumFlows = maximumFlows
    }
}

extension Duration {
    /// The longest duration a config may set (a day): far beyond any sensible timeout, and
    /// far below what the clocks' nanosecond integers can hold.
    static let configurableMaximumSeconds: Double = 24 * 3600

    /// Parses `250ms`, `10s`, `2m`, `1h` into seconds (any finite size: the caller checks the
    /// range).
    static func parseSeconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number.isFinite else { return nil }
            return number * scale
        }
        return nil
    }

    /// A duration as a command-line option gives it (`"500ms"`, `"5s"`, `"2m"`), in the range a
    /// config allows (1 ms to 24 h); nil otherwise.
    public static func parse(_ text: String) -> Duration? {
        guard let seconds = Self.parseSeconds(text) else { return nil }
        let milliseconds = (seconds * 1000).rounded()
        guard milliseconds >= 1, seconds <= Self.configurableMaximumSeconds else { return nil }
        return .milliseconds(Int64(milliseconds))
    }

    /// Milliseconds, rounded down.
    public var milliseconds: Int64 {
        self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000
    }
}
