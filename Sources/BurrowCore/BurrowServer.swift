import BurrowConfig
import BurrowMux
import BurrowTransport
import NIOHTTP1
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
import NIOSSL

/// `burrow server`: accepts client connections on the tunnel port and runs a `ServerSession`
/// for each.
public final class BurrowServer: Sendable {
    private let environment: ServerEnvironment
    private let group: EventLoopGroup
    private let pendingLogins: PendingLogins
    private let listeners = NIOLockedValueBox<[Channel]>([])
    /// Live sessions and the tasks running their control conversations.
    private let sessions = NIOLockedValueBox<[ObjectIdentifier: (session: ServerSession, task: Task<Void, Never>)]>([:])
    private let stopping = NIOLockedValueBox(false)
    private let boundWebSocket = NIOLockedValueBox<SocketAddress?>(nil)

    /// Where the `[websocket]` listener listens, once started (useful with port 0).
    public var webSocketAddress: SocketAddress? { self.boundWebSocket.withLockedValue { $0 } }

    public init(configuration: ServerConfig, group: EventLoopGroup, logger: Logger) {
        self.group = group
        // Registered now, so that the first SIGUSR1 lists every count, zeros included.
        _ = (ServerSession.live, MuxSessionHandler.live, MuxSessionHandler.liveStreams)
        self.pendingLogins = PendingLogins(
            total: configuration.maxPendingLogins, perAddress: configuration.maxPendingLoginsPerAddress, logger: logger
        )
        self.environment = ServerEnvironment(
            configuration: configuration, registry: SessionRegistry(), logger: logger,
            proxyBindHost: configuration.proxyBindHost ?? configuration.bind.host
        )
    }

    /// Starts listening for clients (and, with `[websocket]`, for WebSocket clients); returns
    /// the tunnel port's bound address (useful with port 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let configuration = self.environment.configuration
        let tls = try configuration.tls.map(TLSSetup.serverContext)
        let address = try await self.listen(on: configuration.bind, tls: tls, webSocketPath: nil)
        if let webSocket = configuration.webSocket {
            let bound = try await self.listen(on: webSocket.bind, tls: webSocket.tls ? tls : nil, webSocketPath: webSocket.path)
            self.boundWebSocket.withLockedValue { $0 = bound }
        }
        return address
    }

    /// Binds one listener. Every connection gets the same session once its transport delivers
    /// a byte stream: at once on TCP, after the handshake with TLS, after the HTTP upgrade of
    /// `webSocketPath` on WebSocket.
    private func listen(on endpoint: Endpoint, tls: NIOSSLContext?, webSocketPath: String?) async throws -> SocketAddress {
        let environment = self.environment
        let logger = environment.logger
        let timeout = TimeAmount.nanoseconds(environment.configuration.handshakeTimeout.nanoseconds)
        let pendingLogins = self.pendingLogins
        let listenerName = webSocketPath == nil ? "tunnel port" : "WebSocket listener"
        let startSession: @Sendable (Channel, String?, PendingLogins.Ticket) throws -> Void = { channel, forwardedFor, ticket in
            let handshake = ServerHandshakeHandler(timeout: timeout, logger: logger, forwardedFor: forwardedFor) { context in
                let session = try ServerSession.install(
                    on: context.channel, environment: environment, forwardedFor: forwardedFor, pendingLogin: ticket
                )
                self.track(session)
            }
            try channel.pipeline.syncOperations.addHandler(handshake)
        }
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: self.group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.recvAllocator, value: SocketTuning.receiveAllocator)
                .childChannelInitializer { channel in
                    // A connection over the cap of those not logged in is closed at once.
                    guard let ticket = pendingLogins.admit(channel, listener: listenerName) else {
                        return channel.close()
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                        guard let webSocketPath else { return try startSession(channel, nil, ticket) }
                        let peer = channel.remoteAddress.map(describe) ?? "unknown peer"
                        try channel.pipeline.syncOperations.configureWebSocketServer(
                            path: webSocketPath, timeout: timeout,
                            onAnswer: { logger.info("WebSocket listener, \(peer): \($0)") },
                            onError: { error in
                                if tls != nil, error is NIOSSLError || error is BoringSSLError {
                                    logger.info("WebSocket listener, \(peer): TLS handshake failed (\(error)): a plain ws:// client on a wss:// listener?")
                                } else {
                                    logger.info("WebSocket listener, \(peer): connection failed before its upgrade: \(ErrorText.explain(error))")
                                }
                            },
                            onUpgrade: { channel, request in try startSession(channel, Self.forwardedFor(request), ticket) }
                        )
                    }
                }
                .bind(host: endpoint.host, port: endpoint.port).get()
        } catch {
            let listener = webSocketPath == nil ? "the tunnel port" : "the [websocket] listener"
            throw ListenFailure(description: "cannot listen on \(endpoint) for \(listener): \(ErrorText.explain(error))")
        }
        self.listeners.withLockedValue { $0.append(channel) }
        let address = channel.localAddress!
        let tokens = environment.configuration.tokens.count
        if let webSocketPath {
            logger.info("listening for WebSocket clients on \(describe(address)) at \(webSocketPath) over \(tls == nil ? "ws" : "wss")")
        } else {
            logger.info("listening for clients on \(describe(address)) over \(tls == nil ? "tcp" : "tls") (\(tokens) token\(tokens == 1 ? "" : "s"))")
        }
        return address
    }

    /// The client's address from the first X-Forwarded-For entry a proxy added, for the logs
    /// only (anyone can send the header, so it never decides anything). Kept to the characters
    /// of an IP address, so a header cannot forge a log line.
    private static func forwardedFor(_ request: HTTPRequestHead) -> String? {
        guard let first = request.headers["X-Forwarded-For"].first?.split(separator: ",").first else { return nil }
        let address = first.filter { $0.isHexDigit || $0 == "." || $0 == ":" }
        return address.isEmpty || address.count > 45 ? nil : String(address)
    }

    private func track(_ session: ServerSession) {
        let id = ObjectIdentifier(session)
        self.sessions.withLockedValue { sessions in
            let task = Task {
                await session.run()
                self.sessions.withLockedValue { $0[id] = nil }
            }
            sessions[id] = (session, task)
        }
    }

    /// Graceful stop: no new clients, no new visitors, GoAway to every client, then wait (up to
    /// `grace`) for open streams to finish before closing what is left.
    public func stop(grace: Duration = .seconds(5)) async {
        let alreadyStopping = self.stopping.withLockedValue { stopping in
            defer { stopping = true }
            return stopping
        }
        guard !alreadyStopping else { return }
        for listener in self.listeners.withLockedValue({ $0 }) { try? await listener.close() }
        let sessions = self.sessions.withLockedValue { Array($0.values) }
        for (session, _) in sessions { await session.shutdown() }
        let deadline = ContinuousClock.now + grace
        for (session, task) in sessions {
            let loop = session.channel.eventLoop
            let timer = loop.scheduleTask(deadline: .now() + .nanoseconds(max(0, (deadline - .now).nanoseconds))) {
                session.channel.close(promise: nil)
            }
            try? await session.channel.closeFuture.get()
            timer.cancel()
            // Its last log line (the disconnect) comes before ours.
            await task.value
        }
        self.environment.logger.info("server stopped")
    }
}

/// A listener that could not be opened, with the endpoint and the cause.
struct ListenFailure: Error, CustomStringConvertible {
    let description: String
}
