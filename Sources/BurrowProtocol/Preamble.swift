import NIOCore

/// The first bytes on every connection, before any mux frame.
///
/// The client sends `BURROW\0` and its protocol version; the server answers with its own
/// preamble when it accepts, or with a refusal line `BURROW! <reason>\n` and closes. Either side
/// can thus tell at once a Burrow peer from a web server, a TLS endpoint or a port scanner, and
/// say so in one clear log line instead of a framing error.
public enum Preamble {
    /// The protocol version this build speaks.
    public static let version: UInt8 = 2
    /// `BURROW` and a NUL.
    public static let magic: [UInt8] = Array("BURROW".utf8) + [0]
    /// The refusal prefix a server sends instead of its preamble.
    public static let refusalPrefix: [UInt8] = Array("BURROW!".utf8)
    /// Size of a preamble on the wire.
    public static let length = 8
    /// The longest refusal line, newline included; a longer one is not a Burrow server's.
    public static let maximumRefusalLength = 1024

    /// The preamble of this build.
    public static var bytes: [UInt8] { Self.magic + [Self.version] }

    /// What the first bytes from a peer say about it.
    public enum Verdict: Equatable, Sendable {
        /// Not enough bytes yet to tell.
        case needMoreBytes
        /// A Burrow preamble with this version.
        case burrow(version: UInt8)
        /// A Burrow server's refusal; the reason follows up to a newline.
        case refusal
        /// An HTTP request or response (a browser, curl, a proxy, a web server).
        case http
        /// A TLS ClientHello or record.
        case tls
        /// Anything else.
        case unknown
    }

    /// Classifies the first bytes of a connection.
    public static func classify(_ bytes: ByteBufferView) -> Verdict {
        let prefix = Array(bytes.prefix(Self.length))
        // A TLS handshake (0x16) or alert (0x15) record, version 3.x.
        if let first = prefix.first, first == 0x16 || first == 0x15 {
            return prefix.count < 2 ? .needMoreBytes : (prefix[1] == 0x03 ? .tls : .unknown)
        }
        if Self.refusalPrefix.starts(with: prefix) || prefix.starts(with: Self.refusalPrefix) {
            return prefix.count < Self.refusalPrefix.count ? .needMoreBytes : .refusal
        }
        if Self.magic.starts(with: prefix) || prefix.starts(with: Self.magic) {
            return prefix.count < Self.length ? .needMoreBytes : .burrow(version: prefix[Self.magic.count])
        }
        if Self.looksLikeHTTP(prefix) { return .http }
        if prefix.count < Self.length, prefix.allSatisfy(Self.isHTTPTokenByte) { return .needMoreBytes }
        return .unknown
    }

    /// `GET /`, `POST `, `HTTP/1.1 ...`: upper-case letters, then a space or a slash.
    private static func looksLikeHTTP(_ prefix: [UInt8]) -> Bool {
        guard let end = prefix.firstIndex(where: { !Self.isHTTPTokenByte($0) }), end >= 3 else { return false }
        return prefix[end] == UInt8(ascii: " ") || (prefix[end] == UInt8(ascii: "/") && prefix.starts(with: Array("HTTP".utf8)))
    }

    private static func isHTTPTokenByte(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")
    }

    /// The line a server sends to refuse a connection.
    public static func refusal(_ reason: String) -> [UInt8] {
        Self.refusalPrefix + Array(" \(reason)\n".utf8)
    }

    /// The reply given to an HTTP request on the tunnel port: one line saying what this is.
    public static let httpRefusal: [UInt8] = {
        let body = "This is a Burrow tunnel port, not a web server: point burrow client here.\n"
        let head = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n"
        return Array((head + body).utf8)
    }()
}
