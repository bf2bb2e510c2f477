import BurrowCore
import BurrowMux
import BurrowProtocol
import NIOCore
import NIOEmbedded
import Testing

/// A flow's stream joined to a datagram socket, on EmbeddedChannels sharing a loop.
@Suite struct DatagramBridgeTests {
    /// Records a stream reset asked of the channel (what `abort()` does to a non-socket).
    final class ResetRecorder: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = NIOAny
        var reset = false

        func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
            if event is MuxStreamResetEvent { self.reset = true }
            promise?.succeed(())
            context.close(promise: nil)
        }
    }

    struct Flow {
        let loop = EmbeddedEventLoop()
        let stream: EmbeddedChannel
        let socket: EmbeddedChannel
        let resets = ResetRecorder()
        let peer = try! SocketAddress(ipAddress: "192.0.2.1", port: 5000)
        let meter = ProxyMeter(.server, labels: [])
        let bursts = ActivityCounter()

        init() throws {
            self.stream = EmbeddedChannel(loop: self.loop)
            self.socket = EmbeddedChannel(loop: self.loop)
            try self.stream.pipeline.syncOperations.addHandler(self.resets)
            try self.stream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try self.socket.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            let bursts = self.bursts
            try DatagramBridge.join(stream: self.stream, socket: self.socket, peer: self.peer, meter: self.meter, direction: .outbound) {
                bursts.count += 1
            }
        }

        func datagramsSent() throws -> [String] {
            var sent: [String] = []
            while let envelope = try self.socket.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
                #expect(envelope.remoteAddress == self.peer)
                sent.append(String(buffer: envelope.data))
            }
            return sent
        }
    }

    @Test func framesFromTheStreamLeaveAsDatagramsToThePeer() throws {
        let flow = try Flow()
        var bytes = DatagramFraming.frame(ByteBuffer(string: "one"), allocator: ByteBufferAllocator())
        var second = DatagramFraming.frame(ByteBuffer(string: "two"), allocator: ByteBufferAllocator())
        bytes.writeBuffer(&second)
        try flow.stream.writeInbound(bytes)
        #expect(try flow.datagramsSent() == ["one", "two"])
        #expect(!flow.resets.reset)
        // One read burst: the meter and the idle clock hear of both datagrams at once.
        let traffic = flow.meter.snapshot
        #expect((traffic.datagramsOut, traffic.bytesOut, flow.bursts.count) == (2, 6, 1))
    }

    /// A hostile or broken peer announces a datagram longer than any can be: that flow's stream
    /// is reset, what came before it still goes out, and the socket is untouched.
    @Test func aFrameLongerThanAnyDatagramResetsTheFlowOnly() throws {
        let flow = try Flow()
        var bytes = DatagramFraming.frame(ByteBuffer(string: "before"), allocator: ByteBufferAllocator())
        bytes.writeInteger(UInt16(65_535))
        bytes.writeString("junk")
        _ = try? flow.stream.writeInbound(bytes)
        flow.loop.run()
        #expect(try flow.datagramsSent() == ["before"])
        #expect(flow.resets.reset)
        #expect(!flow.stream.isActive)
        #expect(flow.socket.isActive)
    }

    /// Counts the calls of a flow's activity callback (on the embedded loop only).
    final class ActivityCounter: @unchecked Sendable {
        var count = 0
    }
}
