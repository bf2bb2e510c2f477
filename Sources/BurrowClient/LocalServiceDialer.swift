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
