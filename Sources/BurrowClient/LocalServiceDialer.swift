import BurrowConfig
import BurrowTransport
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

/// The client's proxies as visitor streams find them: by name, each with its dialer.
struct LocalServices: Sendable {
    struct Service: Sendable {
        let proxy: ClientConfig.Proxy
        let dialer: any LocalServiceDialer
    }

    private let services: [String: Service]

    init(_ proxies: [ClientConfig.Proxy], connectTimeout: TimeAmount) {
        self.services = Dictionary(
            proxies.map { ($0.name, Service(proxy: $0, dialer: TCPServiceDialer(endpoint: $0.local, connectTimeout: connectTimeout))) },
            uniquingKeysWith: { first, _ in first }
        )
    }

    subscript(name: String) -> Service? { self.services[name] }
}
