import BurrowConfig
import BurrowCore
import BurrowProtocol
import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore

/// The client's proxies as they are now: what the config or a command asked for, each with its
/// dialer, and what the server answered. Visitor streams look their proxy up here on arrival,
/// so a proxy added or removed while the client runs is seen by the next visitor.
///
/// The table also tells the session's control conversation what to ask the server. A session
/// attaches when its conversation starts and gets every proxy to ask for; a proxy added or
/// removed after that is asked for (or withdrawn) through the attached sink. Both happen under
/// one lock, so each proxy is asked for exactly once per session, however commands and
/// reconnects interleave.
final class ProxyTable: Sendable {
    /// What the server said of a proxy in the current session.
    enum State: Sendable, Equatable {
        /// Asked for (or to be asked for when a session starts); no answer yet.
        case requested
        case published(remotePort: Int)
        /// Refused for a reason that may pass (its port busy): asked for again on a backoff.
        case retrying(reason: String)
        case rejected(reason: String)
    }

    struct Entry: Sendable {
        var proxy: ClientConfig.Proxy
        var dialer: any LocalServiceDialer
        var state: State
        /// Its visitors and traffic, from when it was added until it is removed.
        var meter: ProxyMeter
    }

    private struct Contents {
        var entries: [String: Entry] = [:]
        /// The conversation of the session now running, if any.
        var session: AsyncStream<ControlMessage>.Continuation?
    }

    private let contents = NIOLockedValueBox(Contents())
    private let connectTimeout: TimeAmount
    private let metrics: ClientMetrics

    init(_ proxies: [ClientConfig.Proxy], connectTimeout: TimeAmount, metrics: ClientMetrics = ClientMetrics(factory: NOOPMetricsHandler.instance)) {
        self.connectTimeout = connectTimeout
        self.metrics = metrics
        for proxy in proxies { self.add(proxy) }
    }

    /// Adds a proxy and asks the running session for it; false (and nothing changes) when the
    /// name is taken.
    @discardableResult
    func add(_ proxy: ClientConfig.Proxy) -> Bool {
        let dialer: any LocalServiceDialer = switch proxy.type {
        case .tcp, .websocket:
            if let service = proxy.webSocket {
                WebSocketServiceDialer(service: service, connectTimeout: self.connectTimeout)
            } else {
                TCPServiceDialer(endpoint: proxy.local, connectTimeout: self.connectTimeout)
            }
        case .udp: UDPServiceDialer(endpoint: proxy.local)
        }
        return self.add(proxy, dialer: dialer)
    }

    @discardableResult
    func add(_ proxy: ClientConfig.Proxy, dialer: any LocalServiceDialer) -> Bool {
        self.contents.withLockedValue { contents in
            guard contents.entries[proxy.name] == nil else { return false }
            contents.entries[proxy.name] = Entry(proxy: proxy, dialer: dialer, state: .requested, meter: self.metrics.proxyMeter(proxy: proxy.name))
            contents.session?.yield(Self.request(proxy))
            return true
        }
    }

    /// Removes a proxy and withdraws it from the running session: visitors that arrive for it
    /// from now on are turned away. False when there is no such proxy.
    @discardableResult
    func remove(_ name: String) -> Bool {
        self.contents.withLockedValue { contents in
            guard let entry = contents.entries.removeValue(forKey: name) else { return false }
            entry.meter.destroy()
            contents.session?.yield(.closeProxy(.init(name: name)))
            return true
        }
    }

    func entry(_ name: String) -> Entry? {
        self.contents.withLockedValue { $0.entries[name] }
    }

    func setState(_ state: State, of name: String) {
        self.contents.withLockedValue { $0.entries[name]?.state = state }
    }

    /// Every proxy, by name.
    var all: [Entry] {
        self.contents.withLockedValue { $0.entries.values.sorted { $0.proxy.name < $1.proxy.name } }
    }

    /// A session's conversation starts: nothing is published yet, every proxy is to be asked
    /// for (returned, by name), and later changes go to `session`.
    func attach(_ session: AsyncStream<ControlMessage>.Continuation) -> [ClientConfig.Proxy] {
        self.contents.withLockedValue { contents in
            contents.session = session
            for name in contents.entries.keys { contents.entries[name]?.state = .requested }
            return contents.entries.values.map(\.proxy).sorted { $0.name < $1.name }
        }
    }

    /// The session's conversation ended.
    func detach() {
        self.contents.withLockedValue { $0.session = nil }
    }

    /// What asks the server for `proxy`.
    static func request(_ proxy: ClientConfig.Proxy) -> ControlMessage {
        switch proxy.type {
        case .tcp:
            return .openProxy(.init(name: proxy.name, type: proxy.type.rawValue, remotePort: proxy.remotePort))
        case .udp:
            return .openProxy(.init(
                name: proxy.name, type: proxy.type.rawValue, remotePort: proxy.remotePort,
                idleTimeoutMilliseconds: Int(proxy.udp.idleTimeout.milliseconds), maxFlows: proxy.udp.maximumFlows
            ))
        case .websocket:
            return .openProxy(.init(
                name: proxy.name, type: proxy.type.rawValue, remotePort: proxy.remotePort,
                idleTimeoutMilliseconds: proxy.webSocketVisitors.idleTimeout.map { Int($0.milliseconds) },
                path: proxy.webSocketVisitors.path, message: proxy.webSocketVisitors.textMessages ? "text" : "binary"
            ))
        }
    }
}
