import BurrowConfig
import BurrowCore
import BurrowTransport
import Logging
import NIOCore
import NIOPosix

/// How a visitor stream reaches its local service: TCP, or a UDP flow; a WebSocket service is
/// another kind of it.
protocol LocalServiceDialer: Sendable, CustomStringConvertible {
    /// Connects on `loop` (the visitor stream's, so the joined pair shares one loop).
    func dial(on loop: EventLoop) -> EventLoopFuture<Channel>
    /// Joins the visitor stream to what `dial` connected; `label` names the visitor's stream in
    /// log lines ("proxy dns: flow of 203.0.113.5:41000"); what crosses counts into `meter`.
    /// Call on their event loop.
    func join(_ stream: Channel, to service: Channel, label: String, logger: Logger, meter: ProxyMeter?) throws
}

/// A local service over TCP.
struct TCPServiceDialer: LocalServiceDialer {
    let endpoint: Endpoint
    let connectTimeout: TimeAmount

    func dial(on loop: EventLoop) -> EventLoopFuture<Channel> {
        ClientBootstrap(group: loop)
            .connectTimeout(self.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try SocketTuning.configure(channel, halfClosure: true) }
            }
            .connect(hostOrAddress: self.endpoint.host, port: self.endpoint.port)
    }

    func join(_ stream: Channel, to service: Channel, label: String, logger: Logger, meter: ProxyMeter?) throws {
        try GlueHandler.glue(stream, service, meter: meter)
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

    func join(_ stream: Channel, to service: Channel, label: String, logger: Logger, meter: ProxyMeter?) throws {
        guard let peer = service.remoteAddress else { throw ChannelError.ioOnClosedChannel }
        try DatagramBridge.join(stream: stream, socket: service, peer: peer, meter: meter, direction: .inbound)
        try service.pipeline.syncOperations.addHandler(SocketToStream(stream: stream, label: label, logger: logger, meter: meter))
        stream.closeFuture.whenComplete { _ in service.close(promise: nil) }
    }

    var description: String { "udp \(self.endpoint)" }
}

/// On a flow's connected UDP socket: each datagram from the service goes into the stream
/// (dropped when the stream has no room, and counted: the count is logged when the flow
/// ends), flushed and metered once per read burst. Event-loop confined, like the socket.
private final class SocketToStream: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let stream: Channel
    private let label: String
    private let logger: Logger
    private let meter: ProxyMeter?
    private var dropped = 0
    /// This burst's datagrams into the stream, and drops: the meter hears at its end.
    private var tally = DatagramTally(.outbound)

    init(stream: Channel, label: String, logger: Logger, meter: ProxyMeter?) {
        self.stream = stream
        self.label = label
        self.logger = logger
        self.meter = meter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = self.unwrapInboundIn(data).data
        if DatagramBridge.send(payload, into: self.stream) {
            self.tally.carried(payload.readableBytes)
        } else {
            self.dropped += 1
            self.tally.drop()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.tally.report(to: self.meter)
        if self.dropped > 0 {
            self.logger.debug("\(self.label) ended with \(self.dropped) datagrams from the service dropped (no room in its stream)")
        }
        context.fireChannelInactive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.stream.flush()
        self.tally.report(to: self.meter)
        context.fireChannelReadComplete()
    }
}
