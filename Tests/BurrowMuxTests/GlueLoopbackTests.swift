import BurrowMux
import BurrowTestSupport
import BurrowTransport
import NIOCore
import NIOPosix
import Testing

/// The tunnel's byte path in miniature over real loopback sockets: two sessions on a TCP
/// connection; every stream the acceptor receives is glued to a fresh TCP connection to an
/// echo server. Proves GlueHandler's backpressure and half-close across real sockets.
@Suite struct GlueLoopbackTests {
    @Test func streamsGluedToTCPEchoEverythingAndHalfClose() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let echoServer = try await ServerBootstrap(group: group)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { $0.pipeline.addHandler(EchoHandler()) }
            .bind(host: "127.0.0.1", port: 0).get()
        let echoAddress = echoServer.localAddress!

        // Acceptor side: glue each inbound stream to a new connection to the echo server, on
        // the stream's own event loop.
        let acceptorReady = group.any().makePromise(of: Void.self)
        let muxServer = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                let session = MuxSessionHandler(configuration: MuxConfiguration(role: .acceptor)) { stream in
                    ClientBootstrap(group: stream.eventLoop)
                        .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                        .connect(to: echoAddress)
                        .flatMapThrowing { service in try GlueHandler.glue(stream, service) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(session)
                    acceptorReady.succeed(())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()

        let dialerChannel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MuxSessionHandler(configuration: MuxConfiguration(role: .dialer), inboundStreamInitializer: nil))
                }
            }
            .connect(to: muxServer.localAddress!).get()
        try await acceptorReady.futureResult.get()
        let session = try await dialerChannel.eventLoop.submit {
            NIOLoopBound(try dialerChannel.pipeline.syncOperations.handler(type: MuxSessionHandler.self), eventLoop: dialerChannel.eventLoop)
        }.get()

        let count = 20
        let size = 1 << 20
        var results: [EventLoopFuture<ByteBuffer>] = []
        for index in 0..<count {
            let payload = TestBytes.buffer(seed: UInt64(index), count: size)
            let received = try await dialerChannel.eventLoop.flatSubmit {
                session.value.openEndpoint(sending: payload, on: dialerChannel.eventLoop)
            }.get()
            results.append(received)
        }
        for (index, result) in results.enumerated() {
            let echoed = try await result.get()
            #expect(echoed == TestBytes.buffer(seed: UInt64(index), count: size), "stream \(index)")
        }
        // Every stream ended on both sides once the echo server answered the FIN with its own.
        let remaining = try await dialerChannel.eventLoop.submit { session.value.streamCount }.get()
        #expect(remaining == 0)

        try await dialerChannel.close()
        try await muxServer.close()
        try await echoServer.close()
    }
}
