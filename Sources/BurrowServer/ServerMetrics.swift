import BurrowCore
import CoreMetrics

/// The server's metrics (see `Metric`): sessions, logins by result, connections not logged in,
/// and the per-proxy meters and per-client round trips that sessions make and end. With
/// metrics off the factory is swift-metrics' no-op one, and only the counts `/status` reads
/// remain.
final class ServerMetrics: Sendable {
    /// How a login ended, as `burrow_server_logins_total` labels it.
    enum LoginResult: String, CaseIterable, Sendable {
        case ok
        case wrongToken = "wrong_token"
        /// The token is known but the proof does not match it: a login replayed against a new
        /// challenge, or a client with a damaged token.
        case replay
        case alreadyConnected = "already_connected"
        case badRequest = "bad_request"
    }

    let factory: any MetricsFactory
    let sessions: Meter
    let unauthenticated: Meter
    let unauthenticatedRefused: Counter
    private let logins: [LoginResult: Counter]

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.sessions = Meter(label: Metric.serverSessions.name, factory: factory)
        self.unauthenticated = Meter(label: Metric.serverUnauthenticated.name, factory: factory)
        self.unauthenticatedRefused = Counter(label: Metric.serverUnauthenticatedRefused.name, factory: factory)
        // Every result from the start, zeros included: a rate over a series that appears late
        // misses its first increase.
        self.logins = Dictionary(uniqueKeysWithValues: LoginResult.allCases.map {
            ($0, Counter(label: Metric.serverLogins.name, dimensions: [("result", $0.rawValue)], factory: factory))
        })
        self.sessions.set(0)
        self.unauthenticated.set(0)
    }

    func login(_ result: LoginResult) {
        self.logins[result]?.increment()
    }

    /// The meter of one proxy of one client, until its port closes.
    func proxyMeter(client: String, proxy: String) -> ProxyMeter {
        ProxyMeter(.server, labels: [("client", client), ("proxy", proxy)], factory: self.factory)
    }

    /// The round-trip gauge of one client's session, until it ends.
    func roundTrip(client: String) -> Gauge {
        Gauge(label: Metric.serverRoundTrip.name, dimensions: [("client", client)], factory: self.factory)
    }
}
