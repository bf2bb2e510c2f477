import BurrowConfig
import BurrowCore
import BurrowMux
import BurrowProtocol
import BurrowTransport
import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// `burrow client`: keeps a session with the server, publishes the configured proxies over it
/// and bridges every visitor stream to its local service. When the link drops it comes back by
/// itself, with exponential backoff and full jitter; a refused login ends it with an error
/// unless configured to keep trying.
public final class TunnelClient: Sendable {
    /// What happened, for whoever embeds the client (the demo, tests).
    public enum Event: Sendable, Equatable {
        case loggedIn(sessionID: String)
        case proxyOpened(name: String, remotePort: Int)
        case proxyRejected(name: String, reason: String)
        /// The server closed a proxy's public port (asked to, or on its own).
        case proxyClosed(name: String)
        /// A UDP visitor's flow began (its first datagram) or ended (idle, or the session).
        case flowOpened(proxy: String, visitor: String)
        case flowClosed(proxy: String, visitor: String)
        case disconnected(cause: String)
    }

    /// One proxy as it stands now.
    public struct ProxyStatus: Sendable, Equatable, Codable {
        public var name: String
        /// The public port, while the server publishes it.
        public var remotePort: Int?
        /// Why the server refused it, when it did.
        public var refusal: String?
        /// Its visitors and traffic since it was added (in: from visitors).
        public var traffic: ProxyMeter.Snapshot
    }

    /// What sessions are made of (server, token, name, transport settings): the start's, or
    /// a reload's. Its proxies are not used: they live in `proxies`.
    private let sessionConfiguration: NIOLockedValueBox<ClientConfig>
    private let group: EventLoopGroup
    private let logger: Logger
    private let onEvent: @Sendable (Event) -> Void
    private let state = NIOLockedValueBox(State())
    /// The proxies now: the config's, and what commands added or removed since.
    private let proxies: ProxyTable
    private let metrics: ClientMetrics

    private struct State {
        var stopped = false
        /// The session now running (or dialing).
        var session: ClientSession?
        var wakeUp: EventLoopPromise<Void>?
        /// A reload handed the session over: the next one starts at once, without backoff.
        var handingOver = false
        /// Sessions handed over whose visitors are still finishing, until their connection
        /// closes (or `stop()` closes it).
        var draining: [ObjectIdentifier: ClientSession] = [:]
    }

    /// `metrics` makes the series `/metrics` exports (`PrometheusExport.factory`); by default
    /// there are none, and only the counts of `status` are kept.
    public init(
        configuration: ClientConfig, group: EventLoopGroup, logger: Logger, metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        onEvent: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        let metrics = ClientMetrics(factory: metrics)
        self.metrics = metrics
        self.sessionConfiguration = NIOLockedValueBox(configuration)
        self.proxies = ProxyTable(configuration.proxies, connectTimeout: TimeAmount(configuration.localConnectTimeout), metrics: metrics)
        self.group = group
        // Registered now, so that the first SIGUSR1 lists every count, zeros included.
        _ = (MuxSessionHandler.live, MuxSessionHandler.liveStreams)
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Runs sessions until `stop()`; throws a `BurrowError` (`authenticationFailed`) when the
    /// server refuses the token, unless configured to keep trying.
    public func run() async throws {
        var configuration = self.sessionConfiguration.withLockedValue { $0 }
        var backoff = Backoff(initial: configuration.reconnect.initialDelay, maximum: configuration.reconnect.maximumDelay)
        while !self.isStopped {
            configuration = self.sessionConfiguration.withLockedValue { $0 }
            let server = configuration.server
            let started = ContinuousClock.now
            let cause: String
            let session = ClientSession(
                configuration: configuration, proxies: self.proxies, group: self.group, logger: self.logger, metrics: self.metrics,
                onEvent: self.onEvent
            )
            guard self.state.withLockedValue({ state in
                state.session = session
                return !state.stopped
            }) else { break }
            defer { self.state.withLockedValue { $0.session = nil } }
            var refused = false
            do {
                defer { self.metrics.sessionUp.record(0) }
                try await session.run()
                cause = "session closed"
            } catch let error as BurrowError where error.code == .authenticationFailed && !configuration.reconnect.retryOnAuthenticationFailure {
                self.logger.error("authentication failed at \(server): \(error.detail)")
                throw BurrowError(.authenticationFailed, "authentication failed at \(server): \(error.detail)")
            } catch let error as BurrowError where error.code == .authenticationFailed || error.code == .loginRefused {
                cause = "login refused: \(error.detail)"
                refused = true
            } catch {
                cause = ErrorText.explain(error)
            }
            guard !self.isStopped else { break }
            if self.state.withLockedValue({ state in defer { state.handingOver = false }; return state.handingOver }) {
                backoff.reset()
                continue
            }
            self.metrics.reconnect(refused ? .loginRefused : ClientMetrics.ReconnectCause(endedAt: session.stage))
            let upFor = ContinuousClock.now - started
            if upFor >= configuration.reconnect.resetAfter { backoff.reset() }
            let delay = backoff.nextDelay()
            self.onEvent(.disconnected(cause: cause))
            self.logger.info("attempt \(backoff.failures) to reach \(server) ended: \(cause); next attempt in \(delay.shortDescription)")
            await self.sleep(delay)
        }
        self.logger.info("client stopped")
    }

    /// Ends the current session and the reconnect loop.
    public func stop() {
        let (session, draining, wakeUp) = self.state.withLockedValue { state in
            state.stopped = true
            return (state.session, Array(state.draining.values), state.wakeUp)
        }
        session?.close()
        for old in draining { old.close() }
        wakeUp?.succeed(())
    }

    private var isStopped: Bool { self.state.withLockedValue { $0.stopped } }

    // MARK: - Commands

    /// Publishes one more proxy: asked for at once when a session is up, and by every session
    /// after. Returns false, changing nothing, when a proxy of that name exists.
    @discardableResult
    public func open(_ proxy: ClientConfig.Proxy) -> Bool {
        self.proxies.add(proxy)
    }

    /// Withdraws a proxy: the server closes its port; visitors already through finish.
    /// Returns false when there is no proxy of that name.
    @discardableResult
    public func close(proxyNamed name: String) -> Bool {
        self.proxies.remove(name)
    }

    /// The configuration in force now: the start's, with the proxies reloads changed since
    /// (and those `open` and `close` changed).
    public var configuration: ClientConfig {
        var current = self.sessionConfiguration.withLockedValue { $0 }
        current.proxies = self.proxies.all.map(\.proxy)
        return current
    }

    /// Applies what changed from the running configuration to `new`: proxies added, removed
    /// or changed are opened, closed or re-opened on the live session (the others keep their
    /// visitors). A change of what the session is made of (server, token, name, TLS, WebSocket
    /// headers, heartbeat, handshake timeout) starts a new session: the old one is handed over
    /// (GoAway: its visitors finish, it takes no new ones). Timeouts of local services and the
    /// reconnect policy keep their running values until the client restarts; the report says so.
    public func reload(to new: ClientConfig) -> ReloadReport {
        let diff = ConfigDiff(old: self.configuration, new: new)
        let report = Self.report(diff)
        let wanted = Dictionary(new.proxies.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for name in diff.entries.removed + diff.entries.changed { self.proxies.remove(name) }
        for name in diff.entries.changed + diff.entries.added { if let proxy = wanted[name] { self.proxies.add(proxy) } }
        if diff.settings.contains(where: { $0.effect == .nextSession }) {
            let session = self.state.withLockedValue { state in
                state.handingOver = state.session != nil
                return state.session
            }
            self.sessionConfiguration.withLockedValue { current in
                // What waits for a restart keeps its running value, so `/now` tells the truth.
                var next = new
                next.reconnect = current.reconnect
                next.localConnectTimeout = current.localConnectTimeout
                next.admin = current.admin
                current = next
            }
            if let session, let gone = session.handOver() {
                let id = ObjectIdentifier(session)
                self.state.withLockedValue { $0.draining[id] = session }
                gone.whenComplete { _ in self.state.withLockedValue { _ = $0.draining.removeValue(forKey: id) } }
            }
            // A client waiting out its backoff starts the new session now.
            self.state.withLockedValue { $0.wakeUp }?.succeed(())
        }
        self.logger.info("reloaded: \(report.summary)")
        return report
    }

    /// What `reload(to:)` would do, without doing it.
    public func adapt(to new: ClientConfig) -> ReloadReport {
        Self.report(ConfigDiff(old: self.configuration, new: new))
    }

    /// Proxies apply on the live session, session settings with a new session; the rest waits
    /// for a restart.
    private static func report(_ diff: ConfigDiff) -> ReloadReport {
        ReloadReport(entries: diff, applying: { $0.effect == .nextSession ? "a new session (the old one finishes its visitors)" : nil }) { _ in
            "takes effect when the client restarts"
        }
    }

    /// The proxies, what the server said of each in the current session, and their traffic.
    public var status: [ProxyStatus] {
        self.proxies.all.map { entry in
            var status = ProxyStatus(name: entry.proxy.name, traffic: entry.meter.snapshot)
            switch entry.state {
            case .published(let port): status.remotePort = port
            case .rejected(let reason), .retrying(let reason): status.refusal = reason
            case .requested: break
            }
            return status
        }
    }

    /// When the session now running logged in (seconds since 1970); nil while there is none.
    public var loggedInAt: Int64? {
        self.state.withLockedValue { $0.session }?.loggedInAt
    }

    /// Waits `delay`, or less if stopped meanwhile.
    private func sleep(_ delay: Duration) async {
        let loop = self.group.any()
        let promise = loop.makePromise(of: Void.self)
        let stopped = self.state.withLockedValue { state in
            state.wakeUp = promise
            return state.stopped
        }
        if stopped { promise.succeed(()) }
        let timer = loop.scheduleTask(in: TimeAmount(delay)) { promise.succeed(()) }
        try? await promise.futureResult.get()
        timer.cancel()
        self.state.withLockedValue { $0.wakeUp = nil }
    }
}
