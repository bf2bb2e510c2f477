/// A metric Burrow exports: its Prometheus name, kind, labels and help line. Every one is in
/// `Metric.all`: the exporter takes help lines from there, and the README's list is checked
/// against it.
public struct Metric: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case counter, gauge
    }

    public let name: String
    public let kind: Kind
    public let labels: [String]
    public let help: String

    init(_ name: String, _ kind: Kind, _ labels: [String], _ help: String) {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
    }

    /// Which process exports it: metric names start with `burrow_server_` or `burrow_client_`,
    /// so both can be scraped from one host without a clash.
    public enum Side: String, Sendable {
        case server, client
    }
}

extension Metric {
    // MARK: Server

    public static let serverSessions = Metric(
        "burrow_server_sessions", .gauge, [], "Client sessions logged in now.")
    public static let serverLogins = Metric(
        "burrow_server_logins_total", .counter, ["result"],
        "Logins by result: ok, wrong_token, replay (a proof that does not match its token), already_connected, bad_request.")
    public static let serverUnauthenticated = Metric(
        "burrow_server_unauthenticated_connections", .gauge, [], "Connections that have not logged in yet.")
    public static let serverUnauthenticatedRefused = Metric(
        "burrow_server_unauthenticated_refused_total", .counter, [],
        "Connections closed at once because too many had not logged in (max_pending_logins, max_pending_logins_per_address).")
    public static let serverRoundTrip = Metric(
        "burrow_server_session_round_trip_seconds", .gauge, ["client"], "The last heartbeat ping's round trip to each client.")

    // MARK: Client

    public static let clientSessionUp = Metric(
        "burrow_client_session_up", .gauge, [], "1 while the client is logged in to its server, 0 while it is not.")
    public static let clientReconnects = Metric(
        "burrow_client_reconnects_total", .counter, ["cause"],
        "Sessions that ended and are tried again, by cause: connect_failed, handshake_failed, login_refused, session_lost.")
    public static let clientLocalConnectFailures = Metric(
        "burrow_client_local_connect_failures_total", .counter, ["proxy"],
        "Visitors turned away because the local service could not be reached.")

    // MARK: Per proxy, on either side

    /// Per proxy: the server labels them with the client and the proxy, the client with the proxy.
    public struct ProxyMetrics: Sendable {
        public let visitors: Metric
        public let visitorsTotal: Metric
        public let bytes: Metric
        public let resets: Metric
        public let datagrams: Metric
        public let datagramsDropped: Metric

        fileprivate init(_ side: Side) {
            let prefix = "burrow_\(side.rawValue)_"
            let labels = side == .server ? ["client", "proxy"] : ["proxy"]
            self.visitors = Metric(
                prefix + "visitors", .gauge, labels, "Visitors connected now: TCP and WebSocket visitors, UDP flows.")
            self.visitorsTotal = Metric(
                prefix + "visitors_total", .counter, labels, "Visitors since the proxy opened.")
            self.bytes = Metric(
                prefix + "bytes_total", .counter, labels + ["direction"],
                "Bytes carried for visitors: direction in is from visitors, out is to visitors.")
            self.resets = Metric(
                prefix + "stream_resets_total", .counter, labels,
                "Visitors that ended in an abort (a reset or an error on either side) instead of a clean close.")
            self.datagrams = Metric(
                prefix + "udp_datagrams_total", .counter, labels + ["direction"],
                "UDP datagrams carried: direction in is from visitors, out is to visitors.")
            self.datagramsDropped = Metric(
                prefix + "udp_dropped_total", .counter, labels,
                "UDP datagrams dropped: no room in their flow's stream, or a new visitor over the flow cap.")
        }

        var all: [Metric] { [self.visitors, self.visitorsTotal, self.bytes, self.resets, self.datagrams, self.datagramsDropped] }
    }

    public static let serverProxy = ProxyMetrics(.server)
    public static let clientProxy = ProxyMetrics(.client)

    public static func proxy(_ side: Side) -> ProxyMetrics {
        side == .server ? Self.serverProxy : Self.clientProxy
    }

    /// Every metric, server's first.
    public static let all: [Metric] =
        [.serverSessions, .serverLogins, .serverUnauthenticated, .serverUnauthenticatedRefused, .serverRoundTrip]
        + Self.serverProxy.all
        + [.clientSessionUp, .clientReconnects, .clientLocalConnectFailures]
        + Self.clientProxy.all

    /// The help line of the metric named `name`.
    static let helpByName: [String: String] = Dictionary(Self.all.map { ($0.name, $0.help) }, uniquingKeysWith: { first, _ in first })
}
