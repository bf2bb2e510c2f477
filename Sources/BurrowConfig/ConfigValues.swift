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

/// How the client reaches the server.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Sendable, CaseIterable {
        case tcp
        /// TLS over TCP: the server has `[tls]`.
        case tls
    }

    public var scheme: Scheme
    public var endpoint: Endpoint

    public init(scheme: Scheme, endpoint: Endpoint) {
        self.scheme = scheme
        self.endpoint = endpoint
    }

    public var description: String { "\(self.scheme.rawValue)://\(self.endpoint)" }
}

/// What a proxy carries.
public enum ProxyType: String, Hashable, Sendable, CaseIterable {
    case tcp
}

extension Duration {
    /// Parses `250ms`, `10s`, `2m`, `1h`.
    static func parse(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number >= 0, number.isFinite else { return nil }
            return .milliseconds(Int64((number * scale * 1000).rounded()))
        }
        return nil
    }

    /// Milliseconds, rounded down.
    public var milliseconds: Int64 {
        self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000
    }
}
