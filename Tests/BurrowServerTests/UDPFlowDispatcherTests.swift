import BurrowConfig
import BurrowCore
import BurrowMux
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import BurrowServer

/// A UDP public port's dispatcher on EmbeddedChannels: the socket, and the streams it opens.
@Suite struct UDPFlowDispatcherTests {
    struct Port {
        let loop = EmbeddedEventLoop()
        let socket: EmbeddedChannel
        /// The stream each flow asked for, completed by the test.
        let opening: EventLoopPromise<Channel>
        let visitor = try! SocketAddress(ipAddress: "192.0.2.1", port: 5000)
        let meter = ProxyMeter(.server, labels: [])

        init(settings: UDPFlowSettings = UDPFlowSettings()) throws {
            self.socket = EmbeddedChannel(loop: self.loop)
            let opening = self.loop.makePromise(of: Channel.self)
            self.opening = opening
            let dispatcher = UDPFlowDispatcher(
                settings: settings, label: "proxy dns of client lab", logger: Logger(label: "test"), meter: self.meter
            ) { _ in opening.futureResult }
            try self.socket.pipeline.syncOperations.addHandler(dispatcher)
            try self.socket.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 53)).wait()
        }

        func receive(_ payload: ByteBuffer) throws {
            try self.socket.writeInbound(AddressedEnvelope(remoteAddress: self.visitor, data: payload))
            self.socket.pipeline.fireChannelReadComplete()
        }

        /// Opens the flow's stream and returns it, connected.
        func openStream() throws -> EmbeddedChannel {
            let stream = EmbeddedChannel(loop: self.loop)
            try stream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            self.opening.succeed(stream)
            self.loop.run()
            return stream
        }

        static func frames(_ stream: EmbeddedChannel) throws -> [ByteBuffer] {
            var frames: [ByteBuffer] = []
            while let frame = try stream.readOutbound(as: ByteBuffer.self) { frames.append(frame) }
            return frames
        }
    }

    @Test func datagramsBeforeTheStreamOpensAreKeptInOrderThenSent() throws {
        let port = try Port()
        for index in 0..<3 { try port.receive(ByteBuffer(string: "datagram \(index)")) }
        let stream = try port.openStream()
        let frames = try Port.frames(stream)
        #expect(frames.map { String(buffer: $0) } == (0..<3).map { "\u{0}\u{a}datagram \($0)" })
        // Counted as they go into the stream: one flow, three datagrams, nothing dropped.
        let traffic = port.meter.snapshot
        #expect((traffic.visitors, traffic.datagramsIn, traffic.bytesIn, traffic.datagramsDropped) == (1, 3, 30, 0))
    }

    /// A flood of tiny datagrams before the stream opens is bounded in number as well as in
    /// bytes (each one held costs more than its payload).
    @Test func aFloodBeforeTheStreamOpensIsCappedInDatagramsToo() throws {
        let port = try Port()
        for _ in 0..<1_000 { try port.receive(ByteBuffer(bytes: [0x2a])) }
        let stream = try port.openStream()
        #expect(try Port.frames(stream).count == UDPFlowDispatcher.pendingLimit.datagrams)
        #expect(port.meter.snapshot.datagramsDropped == 1_000 - UDPFlowDispatcher.pendingLimit.datagrams)
    }

    @Test func aFloodOfLargeDatagramsIsCappedInBytes() throws {
        let port = try Port()
        for _ in 0..<10 { try port.receive(ByteBuffer(repeating: 1, count: 30_000)) }
        let stream = try port.openStream()
        #expect(try Port.frames(stream).count == UDPFlowDispatcher.pendingLimit.bytes / 30_000)
    }
}
