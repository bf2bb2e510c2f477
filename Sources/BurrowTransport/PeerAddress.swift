import NIOCore
import NIOHTTP1

/// Who is at the far end of a byte stream, as policy and logs need it: the socket's address and,
/// behind a proxy, the client's address as the proxy reported it.
public struct PeerAddress: Sendable, CustomStringConvertible {
    public var address: SocketAddress?
    /// The first X-Forwarded-For entry of a WebSocket upgrade. Anyone can send the header, so
    /// it is for logs only and never decides anything.
    public var forwardedFor: String?

    public init(address: SocketAddress?, forwardedFor: String? = nil) {
        self.address = address
        self.forwardedFor = forwardedFor
    }

    public init(_ channel: Channel, forwardedFor: String? = nil) {
        self.init(address: channel.remoteAddress, forwardedFor: forwardedFor)
    }

    /// "1.2.3.4:5678", or "127.0.0.1:5678 (forwarded for 203.0.113.9)" behind a proxy.
    public var description: String {
        let address = self.address?.hostAndPort ?? "unknown peer"
        return self.forwardedFor.map { "\(address) (forwarded for \($0))" } ?? address
    }

    /// The client's address from the first X-Forwarded-For entry, kept to the characters of an
    /// IP address so that a header cannot forge a log line.
    static func forwardedFor(_ request: HTTPRequestHead) -> String? {
        guard let first = request.headers["X-Forwarded-For"].first?.split(separator: ",").first else { return nil }
        let address = first.filter { $0.isHexDigit || $0 == "." || $0 == ":" }
        return address.isEmpty || address.count > 45 ? nil : String(address)
    }
}

extension SocketAddress {
    /// "1.2.3.4:5678" or "[::1]:5678".
    public var hostAndPort: String {
        guard let ip = self.ipAddress, let port = self.port else { return "\(self)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
