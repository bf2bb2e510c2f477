@testable import BurrowClient
import BurrowConfig
import BurrowCore
import BurrowMux
import BurrowProtocol
import BurrowTransport
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// The client's side of a visitor stream on EmbeddedChannels: the header, the dial, the glue,
/// and the resets when something is missing.
@Suite struct VisitorStreamHandlerTests {
    /// A local service that answers when the test says so.
    final class HeldDialer: LocalServiceDialer, @unchecked Sendable {
        let service: EmbeddedChannel
        var pending: EventLoopPromise<Channel>?
        var description: String { "test service" }

        init(loop: EmbeddedEventLoop) {
            self.service = EmbeddedChannel(loop: loop)
        }

        func dial(on loop: EventLoop) -> EventLoopFuture<Channel> {
            let promise = loop.makePromise(of: Channel.self)
            self.pending = promise
            return promise.futureResult
        }

        func join(_ stream: Channel, to service: Channel, label: String, logger: Logger, meter: ProxyMeter?) throws {
            try GlueHandler.glue(stream, service, meter: meter)
        }

        func answer() throws {
            try self.service.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            self.pending?.succeed(self.service)
        }

        func refuse() {
            self.pending?.fail(ChannelError.connectTimeout(.seconds(1)))
        }
    }

    /// Records the outbound events a stream sends towards the mux (a reset, here).
    final class EventRecorder: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = NIOAny
        var resets = 0

        func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
            if event is MuxStreamResetEvent { self.resets += 1 }
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    struct Stream {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        let dialer: HeldDialer
        let events = EventRecorder()
        let table = ProxyTable([], connectTimeout: .seconds(1))

        /// The counts of the "web" proxy.
        var traffic: ProxyMeter.Snapshot { self.table.entry("web")!.meter.snapshot }

        init() throws {
            self.channel = EmbeddedChannel(loop: self.loop)
            self.dialer = HeldDialer(loop: self.loop)
            let table = self.table
            table.add(ClientConfig.Proxy(name: "web", type: .tcp, local: Endpoint(host: "127.0.0.1", port: 80), remotePort: nil), dialer: self.dialer)
            try self.channel.pipeline.syncOperations.addHandler(self.events)
            try VisitorStreamHandler.install(on: self.channel, proxies: table, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        func send(header proxy: String, then text: String) throws {
            var bytes = try MessageFraming.encode(VisitorHeader(proxy: proxy, visitorAddress: "203.0.113.9:5555"), allocator: self.channel.allocator)
            bytes.writeString(text)
            try self.channel.writeInbound(bytes)
        }
    }

    static func text(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func bytesAfterTheHeaderWaitForTheServiceThenPassInOrder() throws {
        let stream = try Stream()
        try stream.send(header: "web", then: "GET / ")
        #expect(stream.dialer.pending != nil)
        try stream.channel.writeInbound(ByteBuffer(string: "HTTP/1.1"))
        try stream.dialer.answer()
        #expect(try Self.text(stream.dialer.service) == "GET / HTTP/1.1")
        // Glued: later bytes go straight through, both ways.
        try stream.channel.writeInbound(ByteBuffer(string: "\r\n"))
        #expect(try Self.text(stream.dialer.service) == "\r\n")
        try stream.dialer.service.writeInbound(ByteBuffer(string: "200"))
        #expect(try Self.text(stream.channel) == "200")
        #expect(stream.events.resets == 0)
        // The proxy's meter: one visitor, its bytes after the header each way.
        let traffic = stream.traffic
        #expect((traffic.visitors, traffic.visitorsTotal, traffic.bytesIn, traffic.bytesOut) == (1, 1, 16, 3))
    }

    @Test func aVisitorThatFinishesBeforeTheServiceAnswersStillDeliversItsBytes() throws {
        let stream = try Stream()
        try stream.send(header: "web", then: "all of it")
        stream.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        try stream.dialer.answer()
        stream.loop.run()
        #expect(try Self.text(stream.dialer.service) == "all of it")
        #expect(!stream.dialer.service.isActive)
    }

    @Test func aProxyThisClientDoesNotPublishIsReset() throws {
        let stream = try Stream()
        try stream.send(header: "ssh", then: "")
        #expect(stream.dialer.pending == nil)
        #expect(stream.events.resets == 1)
    }

    @Test func aServiceThatCannotBeReachedResetsTheStream() throws {
        let stream = try Stream()
        try stream.send(header: "web", then: "hello")
        stream.dialer.refuse()
        #expect(stream.events.resets == 1)
        #expect(stream.traffic.localConnectFailures == 1)
        #expect(stream.traffic.visitorsTotal == 0)
    }

    @Test func aMalformedHeaderResetsTheStream() throws {
        let stream = try Stream()
        try stream.channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 2, UInt8(ascii: "{"), UInt8(ascii: "x")]))
        #expect(stream.events.resets == 1)
    }
}
