import BurrowCore
import CoreMetrics

/// The client's metrics (see `Metric`): whether its session is up, why sessions ended, and
/// the per-proxy meters its proxy table keeps. With metrics off the factory is swift-metrics'
/// no-op one, and only the counts of `/status` remain.
final class ClientMetrics: Sendable {
    /// Why a session ended before the client tried again, as `burrow_client_reconnects_total`
    /// labels it.
    enum ReconnectCause: String, CaseIterable, Sendable {
        /// No connection to the server (refused, unreachable, timed out, a TLS or WebSocket
        /// handshake that failed).
        case connectFailed = "connect_failed"
        /// Connected, but no login came of it (a bad preamble, no answer in time).
        case handshakeFailed = "handshake_failed"
        /// The server refused the login.
        case loginRefused = "login_refused"
        /// Logged in, then the link ended.
        case sessionLost = "session_lost"

        /// A session that ended at `stage` (and was not refused).
        init(endedAt stage: ClientSession.Stage) {
            switch stage {
            case .dialing: self = .connectFailed
            case .connected: self = .handshakeFailed
            case .loggedIn: self = .sessionLost
            }
        }
    }

    let factory: any MetricsFactory
    let sessionUp: Gauge
    private let reconnects: [ReconnectCause: Counter]

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.sessionUp = Gauge(label: Metric.clientSessionUp.name, factory: factory)
        self.reconnects = Dictionary(uniqueKeysWithValues: ReconnectCause.allCases.map {
            ($0, Counter(label: Metric.clientReconnects.name, dimensions: [("cause", $0.rawValue)], factory: factory))
        })
        self.sessionUp.record(0)
    }

    func reconnect(_ cause: ReconnectCause) {
        self.reconnects[cause]?.increment()
    }

    /// The meter of one proxy, for as long as the client publishes it.
    func proxyMeter(proxy: String) -> ProxyMeter {
        ProxyMeter(.client, labels: [("proxy", proxy)], factory: self.factory)
    }
}
