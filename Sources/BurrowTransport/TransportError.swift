/// Why a transport could not deliver a byte stream, with a code policy can act on (and that
/// metrics and the admin API can name) and the words a user reads.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A certificate or key file could not be loaded.
        case tlsSetup = "tls_setup"
        /// The TLS handshake failed (a plain client on a TLS port, a certificate not trusted).
        case tlsHandshake = "tls_handshake"
        /// The HTTP upgrade to WebSocket was refused or never answered.
        case upgradeRefused = "upgrade_refused"
    }

    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { self.detail }
}
