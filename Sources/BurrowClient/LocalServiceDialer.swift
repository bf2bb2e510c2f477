import BurrowConfig
import BurrowCore
import BurrowTransport
import NIOCore
import NIOPosix

/// How a visitor stream reaches its local service: TCP, or a UDP flow; a WebSocket service is
/// another kind of it.
protocol LocalServiceDialer: Sendable, CustomStringConvertible {
    /// Connects on `loop` (the visitor stream's, so the joined pair shares one loop).
    func dial(on loop: EventLoop) -> EventLoopFuture<Channel>
    /// Joins the visitor stream to what `dial` connected. Call on their event loop.
    func join(_ stream: Channel, to service: Channel) throws
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

    func join(_ stream: Channel, to service: Channel) throws {
        try GlueHandler.glue(stream, service)
    }

    var description: String { self.endpoint.description }
}

/// A local service over UDP: each flow (one visitor address on the server) gets a socket of its
/// own, connected to the service, so the service's replies go back to that visitor only. The
/// socket closes with the flow's stream.
struct UDPServiceDialer: LocalServiceDialer {
    let endpoint: Endpoint

    func dial(on loop: EventLoop) -> EventLoopFuture<Channel> {
        let bootstrap = DatagramBootstrap(group: loop)
            .channelOption(ChannelOptions.recvAllocator, value: SocketTuning.datagramAllocator)
            .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(SocketTuning.flowDatagramReceiveBuffer))
        if let address = try? SocketAddress(ipAddress: self.endpoint.host, port: self.endpoint.port) {
            return bootstrap.connect(to: address)
        }
        return bootstrap.connect(host: self.endpoint.host, port: self.endpoint.port)
    }

    func join(_ stream: Channel, to service: Channel) throws {
        guard let peer = service.remoteAddress else { throw ChannelError.ioOnClosedChannel }
        try DatagramBridge.join(stream: stream, socket: service, peer: peer)
        try service.pipeline.syncOperations.addHandler(SocketToStream(stream: stream))
        stream.closeFuture.whenComplete { _ in service.close(promise: nil) }
    }

    var description: String { "udp \(self.endpoint)" }
}

/// On a flow's connected UDP socket: each datagram from the service goes into the stream
/// (dropped when the stream has no room), flushed once per read burst.
private final class SocketToStream: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let stream: Channel

    init(stream: Channel) {
        self.stream = stream
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        DatagramBridge.send(self.unwrapInboundIn(data).data, into: self.stream)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.stream.flush()
        context.fireChannelReadComplete()
    }
}
