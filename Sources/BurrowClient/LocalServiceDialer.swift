import BurrowConfig
import BurrowTransport
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// How a visitor stream reaches its local service. TCP today; a WebSocket service is another
/// kind of it.
protocol LocalServiceDialer: Sendable, CustomStringConvertible {
    /// Connects on `loop` (the visitor stream's, so the glued pair shares one loop).
    func dial(on loop: EventLoop) -> EventLoopFuture<Channel>
}

/// A local service over TCP.
struct TCPServiceDialer: LocalServiceDialer {
    let endpoint: Endpoint
    let connectTimeout: TimeAmount

    func dial(on loop: EventLoop) -> EventLoopFuture<Channel> {
        ClientBootstrap(group: loop)
            .connectTimeout(self.connectTimeout)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelOption(ChannelOptions.recvAllocator, value: SocketTuning.receiveAllocator)
            .connect(hostOrAddress: self.endpoint.host, port: self.endpoint.port)
    }

    var description: String { self.endpoint.description }
}

/// The client's proxies as they are now: what the config or a command asked for, each with its
/// dialer, and what the server answered. Visitor streams look their proxy up here on arrival,
/// so a proxy added or removed while the client runs is seen by the next visitor.
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
    }

    private let entries: NIOLockedValueBox<[String: Entry]>
    private let connectTimeout: TimeAmount

    init(_ proxies: [ClientConfig.Proxy], connectTimeout: TimeAmount) {
        self.connectTimeout = connectTimeout
        self.entries = NIOLockedValueBox([:])
        for proxy in proxies { self.add(proxy) }
    }

    /// Adds a proxy, not yet asked for; a name already in the table keeps its entry.
    func add(_ proxy: ClientConfig.Proxy) {
        self.add(proxy, dialer: TCPServiceDialer(endpoint: proxy.local, connectTimeout: self.connectTimeout))
    }

    func add(_ proxy: ClientConfig.Proxy, dialer: any LocalServiceDialer) {
        let entry = Entry(proxy: proxy, dialer: dialer, state: .requested)
        self.entries.withLockedValue { entries in
            if entries[proxy.name] == nil { entries[proxy.name] = entry }
        }
    }

    /// Removes a proxy: visitors that arrive for it from now on are turned away.
    @discardableResult
    func remove(_ name: String) -> Bool {
        self.entries.withLockedValue { $0.removeValue(forKey: name) != nil }
    }

    func entry(_ name: String) -> Entry? {
        self.entries.withLockedValue { $0[name] }
    }

    func setState(_ state: State, of name: String) {
        self.entries.withLockedValue { $0[name]?.state = state }
    }

    /// Every proxy, by name: a new session asks for each of them, in this order.
    var all: [Entry] {
        self.entries.withLockedValue { $0.values.sorted { $0.proxy.name < $1.proxy.name } }
    }

    /// A new session: nothing is published yet.
    func resetStates() {
        self.entries.withLockedValue { entries in
            for name in entries.keys { entries[name]?.state = .requested }
        }
    }
}
