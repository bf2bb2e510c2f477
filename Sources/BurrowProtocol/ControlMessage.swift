/// The messages of the control stream (the first stream a client opens in its session).
///
/// On the wire each is one length-prefixed JSON object `{"type": "...", "body": {...}}`
/// (see `MessageFraming`). JSON keeps the control channel readable in captures and easy to
/// extend; it carries a handful of messages per session, never payload.
public enum ControlMessage: Equatable, Sendable {
    /// server → client, first: a fresh nonce the login must be bound to.
    case challenge(Challenge)
    /// client → server: who I am and proof that I hold the token.
    case login(Login)
    /// server → client: accepted, and proof that the server holds the token too.
    case loginOK(LoginOK)
    /// server → client: refused; the server closes the session after it.
    case loginError(LoginError)
    /// client → server: publish a proxy.
    case openProxy(OpenProxy)
    /// server → client: the proxy's public port is open.
    case proxyOpened(ProxyOpened)
    /// server → client: the proxy could not be opened; the session's other proxies are unaffected.
    case proxyRejected(ProxyRejected)
    /// client → server: stop publishing a proxy.
    case closeProxy(CloseProxy)
    /// server → client: the answer to `closeProxy`.
    case proxyClosed(ProxyClosed)

    public struct Challenge: Codable, Equatable, Sendable {
        /// 32 random bytes, base64 (the proofs are computed over the bytes).
        public var nonce: String
        public var serverVersion: String
        public init(nonce: String, serverVersion: String) {
            self.nonce = nonce
            self.serverVersion = serverVersion
        }
    }

    public struct Login: Codable, Equatable, Sendable {
        /// The client's name from its config.
        public var name: String
        /// The first 8 bytes of SHA-256(token) in hex, so the server finds the token without
        /// trying all.
        public var tokenHint: String
        /// 32 random bytes, base64.
        public var clientNonce: String
        /// `LoginProof.clientProof`, 32 bytes, base64.
        public var proof: String
        public var version: String
        public init(name: String, tokenHint: String, clientNonce: String, proof: String, version: String) {
            self.name = name
            self.tokenHint = tokenHint
            self.clientNonce = clientNonce
            self.proof = proof
            self.version = version
        }
    }

    public struct LoginOK: Codable, Equatable, Sendable {
        /// A random 64-bit id in decimal, as a string: JSON numbers lose precision past 2^53
        /// in many readers, and it is a name, not a quantity.
        public var sessionID: String
        /// The keepalive interval the server uses, in milliseconds.
        public var heartbeatMilliseconds: Int
        /// HMAC-SHA256(token, server context ‖ server nonce ‖ client nonce ‖ name), base64.
        public var serverProof: String
        public init(sessionID: String, heartbeatMilliseconds: Int, serverProof: String) {
            self.sessionID = sessionID
            self.heartbeatMilliseconds = heartbeatMilliseconds
            self.serverProof = serverProof
        }
    }

    public struct LoginError: Codable, Equatable, Sendable {
        public enum Code: String, Codable, Sendable {
            /// Unknown token or wrong proof.
            case authenticationFailed
            /// A live session with this client name and token exists.
            case alreadyConnected
            /// The client speaks a protocol this server does not.
            case unsupportedVersion
            /// The login message itself was malformed.
            case badRequest
        }
        public var code: Code
        public var message: String
        public init(code: Code, message: String) {
            self.code = code
            self.message = message
        }
    }

    public struct OpenProxy: Codable, Equatable, Sendable {
        public var name: String
        public var type: String
        /// nil: the server picks a free port among the token's.
        public var remotePort: Int?
        /// For "udp": a flow with no datagram either way for this long is closed (absent: 60 s).
        public var idleTimeoutMilliseconds: Int?
        /// For "udp": flows alive at once (absent: 4096).
        public var maxFlows: Int?
        /// For "websocket": the path that upgrades (absent: "/").
        public var path: String?
        /// For "websocket": "binary" (absent) or "text", the messages visitors get.
        public var message: String?

        public init(
            name: String, type: String, remotePort: Int?, idleTimeoutMilliseconds: Int? = nil, maxFlows: Int? = nil,
            path: String? = nil, message: String? = nil
        ) {
            self.name = name
            self.type = type
            self.remotePort = remotePort
            self.idleTimeoutMilliseconds = idleTimeoutMilliseconds
            self.maxFlows = maxFlows
            self.path = path
            self.message = message
        }
    }

    public struct ProxyOpened: Codable, Equatable, Sendable {
        public var name: String
        public var remotePort: Int
        public init(name: String, remotePort: Int) {
            self.name = name
            self.remotePort = remotePort
        }
    }

    public struct ProxyRejected: Codable, Equatable, Sendable {
        public enum Code: String, Codable, Sendable, CaseIterable {
            /// The token's rule does not allow the port.
            case notAllowed
            /// Another proxy holds the port now.
            case portInUse
            /// The server could not listen on the port (taken by another program).
            case bindFailed
            /// The server picks the port and none of the token's is free now.
            case noFreePort
            /// The server does not support the proxy type.
            case unsupportedType
            /// A proxy of that name is already open in the session.
            case duplicateName

            /// Whether asking again later may succeed: the client retries these on its backoff.
            public var isRetryable: Bool {
                self == .portInUse || self == .bindFailed || self == .noFreePort
            }
        }
        public var name: String
        public var code: Code
        public var reason: String
        public init(name: String, code: Code, reason: String) {
            self.name = name
            self.code = code
            self.reason = reason
        }
    }

    public struct CloseProxy: Codable, Equatable, Sendable {
        public var name: String
        public init(name: String) { self.name = name }
    }

    public struct ProxyClosed: Codable, Equatable, Sendable {
        public var name: String
        /// The port that was closed; nil when no proxy of that name was open.
        public var remotePort: Int?
        public init(name: String, remotePort: Int?) {
            self.name = name
            self.remotePort = remotePort
        }
    }
}

extension ControlMessage: Codable {
    private enum CodingKeys: String, CodingKey { case type, body }

    private enum Kind: String, Codable {
        case challenge, login, loginOK, loginError, openProxy, proxyOpened, proxyRejected, closeProxy, proxyClosed
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        guard let kind = Kind(rawValue: type) else { throw UnknownMessageType(type: type) }
        switch kind {
        case .challenge: self = .challenge(try container.decode(Challenge.self, forKey: .body))
        case .login: self = .login(try container.decode(Login.self, forKey: .body))
        case .loginOK: self = .loginOK(try container.decode(LoginOK.self, forKey: .body))
        case .loginError: self = .loginError(try container.decode(LoginError.self, forKey: .body))
        case .openProxy: self = .openProxy(try container.decode(OpenProxy.self, forKey: .body))
        case .proxyOpened: self = .proxyOpened(try container.decode(ProxyOpened.self, forKey: .body))
        case .proxyRejected: self = .proxyRejected(try container.decode(ProxyRejected.self, forKey: .body))
        case .closeProxy: self = .closeProxy(try container.decode(CloseProxy.self, forKey: .body))
        case .proxyClosed: self = .proxyClosed(try container.decode(ProxyClosed.self, forKey: .body))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.kind, forKey: .type)
        switch self {
        case .challenge(let body): try container.encode(body, forKey: .body)
        case .login(let body): try container.encode(body, forKey: .body)
        case .loginOK(let body): try container.encode(body, forKey: .body)
        case .loginError(let body): try container.encode(body, forKey: .body)
        case .openProxy(let body): try container.encode(body, forKey: .body)
        case .proxyOpened(let body): try container.encode(body, forKey: .body)
        case .proxyRejected(let body): try container.encode(body, forKey: .body)
        case .closeProxy(let body): try container.encode(body, forKey: .body)
        case .proxyClosed(let body): try container.encode(body, forKey: .body)
        }
    }

    /// The message's `type` on the wire ("login", "proxyOpened"), for logs.
    public var type: String { self.kind.rawValue }

    /// Which side sends a message of this type.
    public enum Sender: Sendable { case client, server }

    public var sender: Sender {
        switch self {
        case .login, .openProxy, .closeProxy: .client
        case .challenge, .loginOK, .loginError, .proxyOpened, .proxyRejected, .proxyClosed: .server
        }
    }

    private var kind: Kind {
        switch self {
        case .challenge: .challenge
        case .login: .login
        case .loginOK: .loginOK
        case .loginError: .loginError
        case .openProxy: .openProxy
        case .proxyOpened: .proxyOpened
        case .proxyRejected: .proxyRejected
        case .closeProxy: .closeProxy
        case .proxyClosed: .proxyClosed
        }
    }
}
