import BurrowConfig
import BurrowCore
import BurrowMux
import BurrowProtocol
import BurrowTransport
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
    public struct ProxyStatus: Sendable, Equatable {
        public var name: String
        /// The public port, while the server publishes it.
        public var remotePort: Int?
        /// Why the server refused it, when it did.
        public var refusal: String?
    }

    /// The configuration the client started with (its proxies change through `proxies`).
    private let configuration0: ClientConfig
    private let group: EventLoopGroup
    private let logger: Logger
    private let onEvent: @Sendable (Event) -> Void
    private let state = NIOLockedValueBox(State())
    /// The proxies now: the config's, and what commands added or removed since.
    private let proxies: ProxyTable

    private struct State {
        var stopped = false
        /// The session now running (or dialing).
        var session: ClientSession?
        var wakeUp: EventLoopPromise<Void>?
    }

    public init(configuration: ClientConfig, group: EventLoopGroup, logger: Logger, onEvent: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.configuration0 = configuration
        self.proxies = ProxyTable(configuration.proxies, connectTimeout: TimeAmount(configuration.localConnectTimeout))
        self.group = group
        // Registered now, so that the first SIGUSR1 lists every count, zeros included.
        _ = (MuxSessionHandler.live, MuxSessionHandler.liveStreams)
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Runs sessions until `stop()`; throws a `BurrowError` (`authenticationFailed`) when the
    /// server refuses the token, unless configured to keep trying.
    public func run() async throws {
        let configuration = self.configuration0
        var backoff = Backoff(initial: configuration.reconnect.initialDelay, maximum: configuration.reconnect.maximumDelay)
        let server = configuration.server
        while !self.isStopped {
            let started = ContinuousClock.now
            let cause: String
            let session = ClientSession(
                configuration: configuration, proxies: self.proxies, group: self.group, logger: self.logger, onEvent: self.onEvent
            )
            guard self.state.withLockedValue({ state in
                state.session = session
                return !state.stopped
            }) else { break }
            defer { self.state.withLockedValue { $0.session = nil } }
            do {
                try await session.run()
                cause = "session closed"
            } catch let error as BurrowError where error.code == .authenticationFailed && !configuration.reconnect.retryOnAuthenticationFailure {
                self.logger.error("authentication failed at \(server): \(error.detail)")
                throw BurrowError(.authenticationFailed, "authentication failed at \(server): \(error.detail)")
            } catch let error as BurrowError where error.code == .authenticationFailed || error.code == .loginRefused {
                cause = "login refused: \(error.detail)"
            } catch {
                cause = ErrorText.explain(error)
            }
            guard !self.isStopped else { break }
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
        let (session, wakeUp) = self.state.withLockedValue { state in
            state.stopped = true
            return (state.session, state.wakeUp)
        }
        session?.close()
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
        var current = self.configuration0
        current.proxies = self.proxies.all.map(\.proxy)
        return current
    }

    /// Applies what changed from the running configuration to `new`: proxies added, removed
    /// or changed are opened, closed or re-opened on the live session (the others keep their
    /// visitors). Anything else keeps its running value until the client restarts, and the
    /// report says so.
    public func reload(to new: ClientConfig) -> ReloadReport {
        let diff = ConfigDiff(old: self.configuration, new: new)
        let report = Self.report(diff)
        let wanted = Dictionary(new.proxies.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for name in diff.entries.removed + diff.entries.changed { self.proxies.remove(name) }
        for name in diff.entries.changed + diff.entries.added { if let proxy = wanted[name] { self.proxies.add(proxy) } }
        self.logger.info("reloaded: \(report.summary)")
        return report
    }

    /// What `reload(to:)` would do, without doing it.
    public func adapt(to new: ClientConfig) -> ReloadReport {
        Self.report(ConfigDiff(old: self.configuration, new: new))
    }

    /// Proxies apply on the live session; every other setting waits for a restart.
    private static func report(_ diff: ConfigDiff) -> ReloadReport {
        ReloadReport(entries: diff) { _ in "takes effect when the client restarts" }
    }

    /// The proxies and what the server said of each in the current session.
    public var status: [ProxyStatus] {
        self.proxies.all.map { entry in
            switch entry.state {
            case .published(let port): ProxyStatus(name: entry.proxy.name, remotePort: port)
            case .rejected(let reason), .retrying(let reason): ProxyStatus(name: entry.proxy.name, refusal: reason)
            case .requested: ProxyStatus(name: entry.proxy.name)
            }
        }
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
