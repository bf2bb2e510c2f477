/// Every error Burrow's own code raises above the mux: a code that says what kind of failure it
/// is, stable enough to be a metric label or an admin API field, and the words a user reads.
/// (Below, the mux has `MuxError` and the WebSocket framing its violations, as wire formats
/// do.) It lives in BurrowTransport, the lowest module every layer above the mux imports.
public struct BurrowError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A certificate or key file could not be loaded.
        case tlsSetup = "tls_setup"
        /// The TLS handshake failed (a plain client on a TLS port, a certificate not trusted).
        case tlsHandshake = "tls_handshake"
        /// The HTTP upgrade to WebSocket was refused or never answered.
        case upgradeRefused = "upgrade_refused"
        /// A listener could not bind its address.
        case listenFailed = "listen_failed"
        /// The peer did not answer the preamble as a Burrow peer (another protocol, another
        /// version, a refusal).
        case handshakeFailed = "handshake_failed"
        /// The control stream, or the connection under it, ended in the middle of the
        /// conversation.
        case controlClosed = "control_closed"
        /// The peer broke the control protocol: a malformed message, one out of turn or role.
        case protocolViolation = "protocol_violation"
        /// A login whose fields have the wrong shape.
        case badLogin = "bad_login"
        /// The server refused the login for a reason that may pass (already connected).
        case loginRefused = "login_refused"
        /// The server refused the token, or could not prove it knows it: retrying cannot help.
        case authenticationFailed = "authentication_failed"
        /// A session ended; the detail says why.
        case sessionEnded = "session_ended"
    }

    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { self.detail }
}
