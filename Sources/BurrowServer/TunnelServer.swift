import BurrowConfig
import BurrowCore
import BurrowMux
import BurrowTransport
import Logging
import NIOCore
import NIOConcurrencyHelpers

/// `burrow server`: accepts client connections on the tunnel port (and the `[websocket]`
/// listener) and runs a `ServerSession` for each.
public final class TunnelServer: Sendable {
    private let environment: ServerEnvironment
    private let group: EventLoopGroup
    private let pendingLogins: PendingLogins
    private let listeners = NIOLockedValueBox<[Channel]>([])
    /// Live sessions and the tasks running their control conversations.
    private let sessions = NIOLockedValueBox<[ObjectIdentifier: (session: ServerSession, task: Task<Void, Never>)]>([:])
    private let stopping = NIOLockedValueBox(false)
    private let boundWebSocket = NIOLockedValueBox<SocketAddress?>(nil)
    /// The configuration in force: the start's, with what reloads applied since.
    private let running: NIOLockedValueBox<ServerConfig>
    /// The listeners' certificate, when they speak TLS: a reload re-reads it.
    private let identity = NIOLockedValueBox<TLSServerIdentity?>(nil)

    /// Where the `[websocket]` listener listens, once started (useful with port 0).
    public var webSocketAddress: SocketAddress? { self.boundWebSocket.withLockedValue { $0 } }

    public init(configuration: ServerConfig, group: EventLoopGroup, logger: Logger) {
        self.group = group
        self.running = NIOLockedValueBox(configuration)
        // Registered now, so that the first SIGUSR1 lists every count, zeros included.
        _ = (ServerSession.live, MuxSessionHandler.live, MuxSessionHandler.liveStreams)
        self.pendingLogins = PendingLogins(
            total: configuration.maxPendingLogins, perAddress: configuration.maxPendingLoginsPerAddress, logger: logger
        )
        self.environment = ServerEnvironment(
            configuration: configuration, tokens: TokenTable(configuration.tokens), registry: SessionRegistry(), logger: logger,
            proxyBindHost: configuration.proxyBindHost ?? configuration.bind.host
        )
    }

    /// Starts listening for clients (and, with `[websocket]`, for WebSocket clients); returns
    /// the tunnel port's bound address (useful with port 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let configuration = self.environment.configuration
        let tls = try configuration.tls.map { try TLSServerIdentity(certificateFile: $0.certificate, keyFile: $0.key) }
        self.identity.withLockedValue { $0 = tls }
        let address = try await self.listen(on: configuration.bind, transport: ListenerTransport(tls: tls))
        if let webSocket = configuration.webSocket {
            let transport = ListenerTransport(tls: webSocket.tls ? tls : nil, webSocketPath: webSocket.path)
            let bound = try await self.listen(on: webSocket.bind, transport: transport)
            self.boundWebSocket.withLockedValue { $0 = bound }
        }
        return address
    }

    /// Binds one listener. Every connection gets the same session once its transport delivers
    /// a byte stream: at once on TCP, with TLS underneath, after the HTTP upgrade on WebSocket.
    private func listen(on endpoint: Endpoint, transport: ListenerTransport) async throws -> SocketAddress {
        let environment = self.environment
        let logger = environment.logger
        let timeout = TimeAmount(environment.configuration.handshakeTimeout)
        let pendingLogins = self.pendingLogins
        let listenerName = transport.webSocketPath == nil ? "tunnel port" : "WebSocket listener"
        let channel: Channel
        do {
            channel = try await TransportListener.bind(
                host: endpoint.host, port: endpoint.port, transport: transport, group: self.group, upgradeTimeout: timeout,
                // A connection over the cap of those not logged in is closed at once.
                admit: { pendingLogins.admit($0, listener: listenerName) },
                onStream: { stream, peer, ticket in
                    stream.eventLoop.makeCompletedFuture {
                        let handshake = ServerHandshakeHandler(timeout: timeout, logger: logger, peer: peer) { context in
                            let session = try ServerSession.install(on: context.channel, environment: environment, peer: peer, pendingLogin: ticket)
                            self.track(session)
                        }
                        try stream.pipeline.syncOperations.addHandler(handshake)
                    }
                },
                onNote: { peer, note in logger.info("\(listenerName), \(peer): \(note)") }
            )
        } catch {
            let listener = transport.webSocketPath == nil ? "the tunnel port" : "the [websocket] listener"
            throw BurrowError(.listenFailed, "cannot listen on \(endpoint) for \(listener): \(ErrorText.explain(error))")
        }
        self.listeners.withLockedValue { $0.append(channel) }
        let address = channel.localAddress!
        let tokens = environment.configuration.tokens.count
        if let path = transport.webSocketPath {
            logger.info("listening for WebSocket clients on \(address.hostAndPort) at \(path) over \(transport.scheme)")
        } else {
            logger.info("listening for clients on \(address.hostAndPort) over \(transport.scheme) (\(tokens) token\(tokens == 1 ? "" : "s"))")
        }
        return address
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

    /// Replaces the tokens: the next login reads the new ones, and every session re-checks its
    /// own (a revoked token ends its sessions; shrunk ports close the proxies outside them).
    public func update(tokens: [ServerConfig.TokenRule]) async {
        self.environment.tokens.replace(with: tokens)
        let sessions = self.sessions.withLockedValue { $0.values.map(\.session) }
        for session in sessions {
            await session.recheck(self.environment.tokens)
        }
    }

    /// The configuration in force now (it may differ from the file).
    public var configuration: ServerConfig { self.running.withLockedValue { $0 } }

    /// Applies what changed from the running configuration to `new`: tokens added, removed or
    /// changed take effect at once (`update(tokens:)`), and with TLS on, the certificate and key
    /// are read again (a renewed certificate, or new files) for the connections that follow.
    /// Any other setting keeps its running value until a restart, and the report says so. All
    /// or nothing: when the certificate cannot be loaded, the error says why and nothing changed.
    public func reload(to new: ServerConfig) async throws -> ReloadReport {
        let diff = ConfigDiff(old: self.configuration, new: new)
        let identity = self.identity.withLockedValue { $0 }
        let rereadTLS = identity != nil && new.tls != nil
        if let identity, let tls = new.tls {
            try identity.reload(certificateFile: tls.certificate, keyFile: tls.key)
        }
        let report = Self.report(diff, new: new, rereadTLS: rereadTLS)
        self.running.withLockedValue { running in
            running.tokens = new.tokens
            if rereadTLS { running.tls = new.tls }
        }
        if !diff.entries.isEmpty { await self.update(tokens: new.tokens) }
        self.environment.logger.info("reloaded: \(report.summary)")
        return report
    }

    /// What `reload(to:)` would do, without doing it; throws what it would refuse (a
    /// certificate that does not load).
    public func adapt(to new: ServerConfig) throws -> ReloadReport {
        let rereadTLS = self.identity.withLockedValue { $0 } != nil && new.tls != nil
        if rereadTLS, let tls = new.tls { try TLSServerIdentity.check(certificateFile: tls.certificate, keyFile: tls.key) }
        return Self.report(ConfigDiff(old: self.configuration, new: new), new: new, rereadTLS: rereadTLS)
    }

    /// Tokens apply at once, and the TLS files while TLS stays on; every other setting waits
    /// for a restart.
    private static func report(_ diff: ConfigDiff, new: ServerConfig, rereadTLS: Bool) -> ReloadReport {
        let files = new.tls.map { "certificate \($0.certificate) and key \($0.key) read" } ?? ""
        var report = ReloadReport(entries: diff, applying: { $0.key == "tls" && rereadTLS ? files : nil }) { _ in
            "takes effect when the server restarts"
        }
        if rereadTLS, !diff.settings.contains(where: { $0.key == "tls" }) { report.applied.append("tls: \(files) again") }
        return report
    }

    /// What runs now: each client's session and its proxies.
    public func status() async -> [SessionStatus] {
        let sessions = self.sessions.withLockedValue { $0.values.map(\.session) }
        var all: [SessionStatus] = []
        for session in sessions {
            if let status = await session.status() { all.append(status) }
        }
        return all.sorted { $0.client < $1.client }
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
            let timer = loop.scheduleTask(deadline: .now() + TimeAmount(max(.zero, deadline - .now))) {
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

