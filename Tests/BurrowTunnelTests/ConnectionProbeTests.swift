import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

/// The probe is how the tunnel tests tell a reset from a clean end, so its own classification
/// is tested where every ordering can be forced.
@Suite struct ConnectionProbeTests {
    /// Fails every write the way a socket whose peer has reset it does: the write's promise
    /// fails with ECONNRESET, then the channel closes, and no errorCaught is fired.
    final class ResetOnWrite: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            promise?.fail(IOError(errnoCode: ECONNRESET, reason: "write"))
            context.close(promise: nil)
        }
    }

    @Test func aWriteThatFindsTheConnectionResetIsAReset() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ResetOnWrite())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let probe = try ConnectionProbe.install(on: channel)
        var ending: Ending?
        probe.endingFuture.whenSuccess { ending = $0 }

        let written = probe.writeAndFlush(ByteBuffer(string: "hello?"))
        channel.embeddedEventLoop.run()

        #expect(throws: IOError.self) { try written.wait() }
        #expect(ending == .reset)
    }

    @Test func aReadErrorOfResetIsAResetAndAnInputEndIsAnEndOfFile() throws {
        let reset = EmbeddedChannel()
        let resetProbe = try ConnectionProbe.install(on: reset)
        var resetEnding: Ending?
        resetProbe.endingFuture.whenSuccess { resetEnding = $0 }
        reset.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read"))
        #expect(resetEnding == .reset)

        let clean = EmbeddedChannel()
        let cleanProbe = try ConnectionProbe.install(on: clean)
        var cleanEnding: Ending?
        cleanProbe.endingFuture.whenSuccess { cleanEnding = $0 }
        clean.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(cleanEnding == .endOfFile)
    }
}
