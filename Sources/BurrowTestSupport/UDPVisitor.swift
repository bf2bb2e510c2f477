import NIOCore
import NIOPosix

/// A UDP visitor for tests: one socket of its own (so one flow at the tunnel), and an inbox of
/// the datagrams it receives, which ends when the socket closes.
public struct UDPVisitor: Sendable {
    public let channel: Channel
    public let inbox: AsyncStream<ByteBuffer>

    /// Passes what the socket receives to the inbox.
    private final class Inbox: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let continuation: AsyncStream<ByteBuffer>.Continuation

        init(_ continuation: AsyncStream<ByteBuffer>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.continuation.yield(self.unwrapInboundIn(data).data)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.continuation.finish()
            context.fireChannelInactive()
        }
    }

    /// Binds a socket on `host` (a port from the OS), with room for the largest datagram.
    public static func open(host: String = "127.0.0.1", group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> UDPVisitor {
        let (inbox, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        let channel = try await DatagramBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: 1 << 20)
            .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelInitializer { $0.pipeline.addHandler(Inbox(continuation)) }
            .bind(host: host, port: 0).get()
        return UDPVisitor(channel: channel, inbox: inbox)
    }

    public func send(_ bytes: ByteBuffer, to port: Int, host: String = "127.0.0.1") async throws {
        let address = try SocketAddress(ipAddress: host, port: port)
        try await self.channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: bytes))
    }

    /// Closes the socket; the inbox ends.
    public func close() async {
        try? await self.channel.close()
    }
}
