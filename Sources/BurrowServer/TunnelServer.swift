import BurrowConfig
import BurrowCore
import BurrowMux
import BurrowTransport
import Logging
import CoreMetrics
import NIOCore
import NIOConcurrencyHelpers

/// `burrow server`: accepts client connections on the tunnel port (and the `[websocket]`
/// listener) and runs a `ServerSession` for each.
public final class TunnelServer: Sendable {
    private let environment: ServerEnvironment
    private let group: EventLoopGroup
    private let pendingLogins: PendingLogins
    /// The client listeners: the tunnel port, and the `[websocket]` listener when there is one.
    private let listeners = NIOLockedValueBox<[Listener]>([])
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

    /// `metrics` makes the series `/metrics` exports (`PrometheusExport.factory`); by default
    /// there are none, and only the counts of `/status` are kept.
    public init(
        configuration: ServerConfig, group: EventLoopGroup, logger: Logger, metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.group = group
        self.running = NIOLockedValueBox(configuration)
        // Registered now, so that the first SIGUSR1 lists every count, zeros included.
        _ = (ServerSession.live, MuxSessionHandler.live, MuxSessionHandler.liveStreams)
        let metrics = ServerMetrics(factory: metrics)
        self.pendingLogins = PendingLogins(
            total: configuration.maxPendingLogins, perAddress: configuration.maxPendingLoginsPerAddress, logger: logger,
            metrics: metrics
        )
        self.environment = ServerEnvironment(
            configuration: configuration, tokens: TokenTable(configuration.tokens), registry: SessionRegistry(),
            metrics: metrics, disconnects: DisconnectLog(), logger: logger,
            proxyBindHost: configuration.proxyBindHost ?? configuration.bind.host
        )
    }

    /// One client listener: where it listens, and the transport each new connection gets (a
    /// reload may change it in place: the socket stays open, so no connection is refused).
    private struct Listener: Sendable {
        enum Kind: Equatable, Sendable {
            case tunnel, webSocket

            var name: String { self == .tunnel ? "the tunnel port" : "the [websocket] listener" }
        }
        let kind: Kind
        let endpoint: Endpoint
        let channel: Channel
        let transport: NIOLockedValueBox<ListenerTransport>
    }

    /// What a configuration listens on: the tunnel port, and the `[websocket]` listener.
    private static func plan(_ configuration: ServerConfig, identity: TLSServerIdentity?) -> [(Listener.Kind, Endpoint, ListenerTransport)] {
        var plan: [(Listener.Kind, Endpoint, ListenerTransport)] = [(.tunnel, configuration.bind, ListenerTransport(tls: identity))]
        if let webSocket = configuration.webSocket {
            plan.append((.webSocket, webSocket.bind, ListenerTransport(tls: webSocket.tls ? identity : nil, webSocketPath: webSocket.path)))
        }
        return plan
    }

    /// Starts listening for clients (and, with `[websocket]`, for WebSocket clients); returns
    /// the tunnel port's bound address (useful with port 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let configuration = self.environment.configuration
        let tls = try configuration.tls.map { try TLSServerIdentity(certificateFile: $0.certificate, keyFile: $0.key) }
        self.identity.withLockedValue { $0 = tls }
        var bound: [Listener] = []
        for (kind, endpoint, transport) in Self.plan(configuration, identity: tls) {
            // Listeners take SO_REUSEPORT (for a reload's overlapping bind), which would let a
            // second server start on the same port unnoticed: check it is free first.
            try await Self.checkFree(endpoint, kind: kind, group: self.group)
            bound.append(try await self.listen(kind, on: endpoint, transport: transport))
        }
        self.listeners.withLockedValue { $0 = bound }
        return bound[0].channel.localAddress!
    }

    /// Fails, naming the listener, when another program holds `endpoint` (port 0 always works).
    private static func checkFree(_ endpoint: Endpoint, kind: Listener.Kind, group: EventLoopGroup) async throws {
        do {
            try await TransportListener.checkFree(host: endpoint.host, port: endpoint.port, group: group)
        } catch {
            throw BurrowError(.listenFailed, "cannot listen on \(endpoint) for \(kind.name): \(ErrorText.explain(error))")
        }
    }

    /// Binds one listener. Every connection gets the same session once its transport delivers
    /// a byte stream: at once on TCP, with TLS underneath, after the HTTP upgrade on WebSocket.
    private func listen(_ kind: Listener.Kind, on endpoint: Endpoint, transport: ListenerTransport) async throws -> Listener {
        let environment = self.environment
        let logger = environment.logger
        let timeout = TimeAmount(environment.configuration.handshakeTimeout)
        let pendingLogins = self.pendingLogins
        let listenerName = kind == .tunnel ? "tunnel port" : "WebSocket listener"
        let current = NIOLockedValueBox(transport)
        let channel: Channel
        do {
            channel = try await TransportListener.bind(
                host: endpoint.host, port: endpoint.port, transport: { current.withLockedValue { $0 } }, group: self.group,
                upgradeTimeout: timeout, reusePort: true,
                // A connection over the cap of those not logged in is closed at once.
                admit: { pendingLogins.admit($0, listener: listenerName) },
                onStream: { stream, peer, ticket in
                    stream.eventLoop.makeCompletedFuture {
                        let handshake = ServerHandshakeHandler(timeout: timeout, logger: logger, peer: peer) { context in
                            let session = try ServerSession.install(
                                on: context.channel, environment: environment, peer: peer, transport: current.withLockedValue { $0.scheme }, pendingLogin: ticket
                            )
                            self.track(session)
                        }
                        try stream.pipeline.syncOperations.addHandler(handshake)
                    }
                },
                onNote: { peer, note in logger.info("\(listenerName), \(peer): \(note)") }
            )
        } catch {
            throw BurrowError(.listenFailed, "cannot listen on \(endpoint) for \(kind.name): \(ErrorText.explain(error))")
        }
        let listener = Listener(kind: kind, endpoint: endpoint, channel: channel, transport: current)
        self.announce(listener)
        return listener
    }

    private func announce(_ listener: Listener) {
        let address = listener.channel.localAddress!
        let transport = listener.transport.withLockedValue { $0 }
        let logger = self.environment.logger
        if let path = transport.webSocketPath {
            self.boundWebSocket.withLockedValue { $0 = address }
            logger.info("listening for WebSocket clients on \(address.hostAndPort) at \(path) over \(transport.scheme)")
        } else {
            let tokens = self.configuration.tokens.count
            logger.info("listening for clients on \(address.hostAndPort) over \(transport.scheme) (\(tokens) token\(tokens == 1 ? "" : "s"))")
        }
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

    /// Applies what changed from the running configuration to `new`:
    /// - tokens added, removed or changed take effect at once (`update(tokens:)`);
    /// - with TLS on, the certificate and key are read again (a renewed certificate, or new
    ///   files) for the connections that follow;
    /// - listeners follow `bind`, `[tls]` and `[websocket]`: one that stays on its address gets
    ///   the new transport in place (the socket stays open), one that moves is bound anew
    ///   before the old one closes (SO_REUSEPORT lets an overlapping address bind twice);
    ///   sessions already up are not touched.
    /// Any other setting keeps its running value until a restart, and the report says so. All
    /// or nothing: the certificate is loaded and new listeners bound before anything changes;
    /// when either fails, the error says why and nothing changed.
    public func reload(to new: ServerConfig) async throws -> ReloadReport {
        let old = self.configuration
        let diff = ConfigDiff(old: old, new: new)
        let existing = self.identity.withLockedValue { $0 }
        // The certificate first: it must load before anything changes.
        var identity: TLSServerIdentity?
        if let tls = new.tls {
            if let existing {
                try TLSServerIdentity.check(certificateFile: tls.certificate, keyFile: tls.key)
                identity = existing
            } else {
                identity = try TLSServerIdentity(certificateFile: tls.certificate, keyFile: tls.key)
            }
        }
        // Then the listeners that move: bound before the old ones close.
        let current = self.listeners.withLockedValue { $0 }
        var kept: [(Listener, ListenerTransport)] = [], added: [Listener] = []
        let listenersChange = old.bind != new.bind || old.tls != new.tls || old.webSocket != new.webSocket
        if listenersChange {
            do {
                for (kind, endpoint, transport) in Self.plan(new, identity: identity) {
                    if let same = current.first(where: { $0.kind == kind && $0.endpoint == endpoint }) {
                        kept.append((same, transport))
                    } else {
                        added.append(try await self.listen(kind, on: endpoint, transport: transport))
                    }
                }
            } catch {
                for listener in added { try? await listener.channel.close() }
                throw error
            }
        }
        // Nothing can fail from here on.
        if let existing, let tls = new.tls { try? existing.reload(certificateFile: tls.certificate, keyFile: tls.key) }
        self.identity.withLockedValue { $0 = identity }
        if listenersChange {
            for (listener, transport) in kept {
                listener.transport.withLockedValue { $0 = transport }
                self.announce(listener)
            }
            let keptChannels = kept.map { ObjectIdentifier($0.0.channel) }
            for listener in current where !keptChannels.contains(ObjectIdentifier(listener.channel)) {
                try? await listener.channel.close()
                self.environment.logger.info("stopped listening on \(listener.channel.localAddress?.hostAndPort ?? "\(listener.endpoint)") for \(listener.kind.name)")
            }
            if new.webSocket == nil { self.boundWebSocket.withLockedValue { $0 = nil } }
            self.listeners.withLockedValue { $0 = kept.map(\.0) + added }
        }
        let report = Self.report(diff, new: new, rereadTLS: existing != nil && new.tls != nil)
        self.running.withLockedValue { running in
            running.tokens = new.tokens
            running.bind = new.bind
            running.tls = new.tls
            running.webSocket = new.webSocket
        }
        if !diff.entries.isEmpty { await self.update(tokens: new.tokens) }
        self.environment.logger.info("reloaded: \(report.summary)")
        return report
    }

    /// What `reload(to:)` would do, without doing it; throws what it would refuse (a
    /// certificate that does not load).
    public func adapt(to new: ServerConfig) throws -> ReloadReport {
        if let tls = new.tls { try TLSServerIdentity.check(certificateFile: tls.certificate, keyFile: tls.key) }
        let rereadTLS = self.identity.withLockedValue { $0 } != nil && new.tls != nil
        return Self.report(ConfigDiff(old: self.configuration, new: new), new: new, rereadTLS: rereadTLS)
    }

    /// Tokens, TLS files and listeners apply at once; every other setting waits for a restart.
    private static func report(_ diff: ConfigDiff, new: ServerConfig, rereadTLS: Bool) -> ReloadReport {
        let files = new.tls.map { "certificate \($0.certificate) and key \($0.key) read" } ?? "off"
        let applied: [String: String] = [
            "bind": "clients connect on \(new.bind)",
            "tls": new.tls == nil ? "off" : files,
            "websocket": new.webSocket.map { "listening on \($0.bind) at \($0.path)" } ?? "off",
        ]
        var report = ReloadReport(entries: diff, applying: { applied[$0.key] }) { _ in "takes effect when the server restarts" }
        if rereadTLS, !diff.settings.contains(where: { $0.key == "tls" }) { report.applied.append("tls: \(files) again") }
        return report
    }

    /// What runs now: each client's session and its proxies, and the sessions that ended last.
    /// Sessions are asked at once: one that does not answer its ping costs the answer a second,
    /// not a second each.
    public func status() async -> ServerStatus {
        let sessions = self.sessions.withLockedValue { $0.values.map(\.session) }
        let all = await withTaskGroup(of: SessionStatus?.self) { group in
            for session in sessions { group.addTask { await session.status() } }
            var all: [SessionStatus] = []
            for await status in group { if let status { all.append(status) } }
            return all
        }
        return ServerStatus(sessions: all.sorted { $0.client < $1.client }, recentDisconnects: self.environment.disconnects.all)
    }

    /// Graceful stop: no new clients, no new visitors, GoAway to every client, then wait (up to
    /// `grace`) for open streams to finish before closing what is left.
    public func stop(grace: Duration = .seconds(5)) async {
        let alreadyStopping = self.stopping.withLockedValue { stopping in
            defer { stopping = true }
            return stopping
        }
        guard !alreadyStopping else { return }
        for listener in self.listeners.withLockedValue({ $0 }) { try? await listener.channel.close() }
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

