import BurrowMux
import BurrowTransport
import NIOCore
import NIOEmbedded
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// GlueHandler on two EmbeddedChannels sharing a loop: bytes, endings and backpressure, without
/// sockets (the loopback tests prove the same over real ones).
@Suite struct GlueHandlerTests {
    /// Counts the reads a channel asks of its transport.
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = NIOAny
        var reads = 0

        func read(context: ChannelHandlerContext) {
            self.reads += 1
            context.read()
        }
    }

    /// Records whether the channel was aborted (`abort()` asks a channel that is not a socket
    /// for a stream reset) and, when `failWrites`, fails every write as a socket whose peer
    /// has reset it does: the write's promise fails, the channel closes, no errorCaught.
    final class Ending: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = NIOAny
        var aborted = false
        var failWrites = false

        func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
            if event is MuxStreamResetEvent { self.aborted = true }
            promise?.fail(ChannelError.operationUnsupported)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            guard self.failWrites else { return context.write(data, promise: promise) }
            promise?.fail(IOError(errnoCode: ECONNRESET, reason: "write"))
            context.close(promise: nil)
        }
    }

    struct Pair {
        let loop = EmbeddedEventLoop()
        let visitor: EmbeddedChannel
        let service: EmbeddedChannel
        let visitorReads = ReadCounter()
        let visitorEnding = Ending()
        let serviceEnding = Ending()

        init(meter: TrafficMeter? = nil) throws {
            self.visitor = EmbeddedChannel(loop: self.loop)
            self.service = EmbeddedChannel(loop: self.loop)
            try self.visitor.pipeline.syncOperations.addHandler(self.visitorEnding)
            try self.service.pipeline.syncOperations.addHandler(self.serviceEnding)
            try self.visitor.pipeline.syncOperations.addHandler(self.visitorReads)
            let (a, b) = GlueHandler.matchedPair(meter: meter)
            try self.visitor.pipeline.syncOperations.addHandler(a)
            try self.service.pipeline.syncOperations.addHandler(b)
            try self.visitor.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try self.service.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        }
    }

    static func text(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func bytesCrossBothWays() throws {
        let pair = try Pair()
        try pair.visitor.writeInbound(ByteBuffer(string: "request"))
        #expect(try Self.text(pair.service) == "request")
        try pair.service.writeInbound(ByteBuffer(string: "answer"))
        #expect(try Self.text(pair.visitor) == "answer")
    }

    @Test func anEndOfInputReachesThePartnerAfterTheBytesBeforeIt() throws {
        let pair = try Pair()
        try pair.visitor.writeInbound(ByteBuffer(string: "last words"))
        pair.visitor.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        pair.loop.run()
        #expect(try Self.text(pair.service) == "last words")
        // An EmbeddedChannel cannot half-close: the partner's output closing closes it.
        #expect(!pair.service.isActive)
    }

    @Test func readsWaitWhileThePartnerCannotTakeMore() throws {
        let pair = try Pair()
        let before = pair.visitorReads.reads
        pair.service.isWritable = false
        pair.service.pipeline.fireChannelWritabilityChanged()
        pair.visitor.read()
        #expect(pair.visitorReads.reads == before)
        pair.service.isWritable = true
        pair.service.pipeline.fireChannelWritabilityChanged()
        #expect(pair.visitorReads.reads == before + 1)
    }

    /// Records what a metered pair reports, and when.
    final class Tally: TrafficMeter, @unchecked Sendable {
        var inbound: [Int] = []
        var outbound: [Int] = []
        var aborts = 0

        func addInbound(_ bytes: Int) { self.inbound.append(bytes) }
        func addOutbound(_ bytes: Int) { self.outbound.append(bytes) }
        func noteAbort() { self.aborts += 1 }
    }

    /// Bytes are added once per read burst, at its end: three reads, one report; the visitor's
    /// side counts in, the service's out.
    @Test func aMeterHearsOfEachReadBurstOnce() throws {
        let tally = Tally()
        let pair = try Pair(meter: tally)
        for word in ["one ", "two ", "three"] { pair.visitor.pipeline.fireChannelRead(ByteBuffer(string: word)) }
        #expect(tally.inbound.isEmpty)
        pair.visitor.pipeline.fireChannelReadComplete()
        #expect(tally.inbound == [13])
        #expect(try Self.text(pair.service) == "one two three")
        try pair.service.writeInbound(ByteBuffer(string: "answer"))
        #expect(tally.outbound == [6])
        #expect(tally.aborts == 0)
    }

    /// Bytes read in a burst that ends with the channel still count.
    @Test func aMeterHearsOfTheLastBurstWhenTheChannelCloses() throws {
        let tally = Tally()
        let pair = try Pair(meter: tally)
        pair.service.pipeline.fireChannelRead(ByteBuffer(string: "bye"))
        pair.service.pipeline.fireChannelInactive()
        #expect(tally.outbound == [3])
    }

    /// An abort is counted once per pair, whichever side fails and however the failure echoes
    /// back.
    @Test func aMeterCountsAPairsAbortOnce() throws {
        let tally = Tally()
        let pair = try Pair(meter: tally)
        pair.visitor.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        pair.service.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        pair.loop.run()
        #expect(tally.aborts == 1)
        #expect(pair.serviceEnding.aborted)
    }

    @Test func anErrorOnOneSideEndsTheOtherAtOnce() throws {
        let pair = try Pair()
        pair.visitor.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        pair.loop.run()
        #expect(!pair.service.isActive)
        #expect(pair.serviceEnding.aborted)
    }

    /// NIO closes a socket whose write fails (its peer reset it) without an errorCaught: the
    /// bytes written were lost, so the partner is aborted, not closed as if all went through.
    @Test func aWriteThatFailsAbortsThePartner() throws {
        let pair = try Pair()
        pair.visitorEnding.failWrites = true
        try pair.service.writeInbound(ByteBuffer(string: "download"))
        pair.loop.run()
        #expect(!pair.visitor.isActive)
        #expect(!pair.service.isActive)
        #expect(pair.serviceEnding.aborted)
    }

    @Test func aCloseOnOneSideClosesTheOther() throws {
        let pair = try Pair()
        try pair.service.close().wait()
        pair.loop.run()
        #expect(!pair.visitor.isActive)
        #expect(!pair.visitorEnding.aborted)
    }
}
