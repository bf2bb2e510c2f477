import BurrowConfig
import BurrowTransport
import Logging
import NIOCore

/// `burrow bridge`: TCP to WebSocket and back with no tunnel. Every connection the listener
/// accepts (a TCP connection, or a WebSocket upgraded on a path) gets a connection of its own to
/// the target (a TCP service, or a WebSocket one), dialed and joined by the same
/// `LocalServiceDialer`s and `GlueHandler` that carry a proxy's visitors, so a bridge passes
/// bytes, backpressure, half-closes and aborts exactly as a proxy does.
public struct Converter: Sendable {
    /// What the converter accepts: TCP connections, or WebSocket visitors on a path.
    public enum Listen: Sendable, CustomStringConvertible {
        case tcp(Endpoint)
        /// `textMessages`: the target's bytes go to visitors as text messages (browser apps
        /// that want strings); visitors' text and binary messages are bytes either way.
        case webSocket(Endpoint, path: String, textMessages: Bool)

        var endpoint: Endpoint {
            switch self {
            case .tcp(let endpoint), .webSocket(let endpoint, _, _): endpoint
            }
        }

        public var description: String {
            switch self {
            case .tcp(let endpoint): "tcp \(endpoint)"
            case .webSocket(let endpoint, let path, _): "ws://\(endpoint)\(path)"
            }
        }
    }

    /// What each accepted connection is joined to: a TCP service, or a WebSocket service with
    /// its TLS trust and extra upgrade headers (as a proxy's `local` takes them).
    public enum Target: Sendable {
        case tcp(Endpoint)
        case webSocket(ClientConfig.WebSocketService)
    }

    private let channel: Channel

    /// Where the listener is bound (its port, when asked for port 0).
    public var localAddress: SocketAddress? { self.channel.localAddress }

    /// Binds `listen` on `group`; each connection is dialed to `target` within `connectTimeout`
    /// (the WebSocket upgrade included). A visitor whose target cannot be reached is reset, and
    /// one line names it and the cause.
    public static func start(
        listen: Listen, target: Target, connectTimeout: TimeAmount, group: EventLoopGroup, logger: Logger
    ) async throws -> Converter {
        let dialer: any LocalServiceDialer = switch target {
        case .tcp(let endpoint): TCPServiceDialer(endpoint: endpoint, connectTimeout: connectTimeout)
        case .webSocket(let service): WebSocketServiceDialer(service: service, connectTimeout: connectTimeout)
        }
        let transport = switch listen {
        case .tcp: ListenerTransport()
        case .webSocket(_, let path, let textMessages):
            ListenerTransport(
                webSocketPath: path, webSocketOptions: WebSocketStreamOptions(acceptsText: true, sendsText: textMessages),
                webSocketPage: "This is a WebSocket endpoint: connect to ws://HOST:PORT\(path) with a WebSocket client.\n"
            )
        }
        let channel = try await TransportListener.bind(
            host: listen.endpoint.host, port: listen.endpoint.port, transport: transport, group: group, upgradeTimeout: connectTimeout,
            halfClosure: true,
            admit: { _ in () },
            onStream: { visitor, peer, _ in Self.join(visitor, peer: peer, to: dialer, logger: logger) },
            onNote: { peer, note in logger.info("\(peer): \(note)") }
        )
        return Converter(channel: channel)
    }

    /// Dials the target for one visitor and glues the two; a failed dial resets the visitor.
    private static func join(_ visitor: Channel, peer: PeerAddress, to dialer: any LocalServiceDialer, logger: Logger) -> EventLoopFuture<Void> {
        dialer.dial(on: visitor.eventLoop).flatMapThrowing { service in
            do {
                try dialer.join(visitor, to: service, label: "\(peer)", logger: logger, meter: nil)
            } catch {
                service.close(promise: nil)
                throw error
            }
            logger.debug("\(peer): joined to \(dialer)")
        }.flatMapError { error in
            logger.warning("\(peer): cannot reach \(dialer): \(ErrorText.explain(error)): connection reset")
            return visitor.abort().flatMapThrowing { throw error }
        }
    }

    /// Stops accepting; joined connections run to their end.
    public func close() async {
        try? await self.channel.close()
    }

    /// Resolves once the listener is closed.
    public var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }
}
