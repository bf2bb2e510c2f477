import ArgumentParser
import BurrowTransport
import Dispatch
import NIOCore
import NIOPosix

/// Connects to 127.0.0.1:`port` over TCP, or as a WebSocket client upgrading `webSocketPath`
/// (the bytes written leave as binary messages, the messages read arrive as bytes), and puts
/// `handler()` at the end of the pipeline once bytes can flow.
func connect(
    port: Int, webSocketPath: String?, handler: @escaping @Sendable () -> ChannelHandler
) async throws -> Channel {
    let loop = MultiThreadedEventLoopGroup.singleton.any()
    guard let path = webSocketPath else {
        return try await ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler()) }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }
    let ready = loop.makePromise(of: Channel.self)
    let target = DialTarget(host: "127.0.0.1", port: port, webSocket: .init(host: "127.0.0.1:\(port)", path: path, acceptsText: true))
    TransportDialer(target: target, group: loop).connect(
        on: loop, timeout: .seconds(10),
        onStream: { channel in
            try channel.pipeline.syncOperations.addHandler(handler())
            ready.succeed(channel)
        },
        onFailure: { ready.fail($0) }
    ).whenFailure { ready.fail($0) }
    return try await ready.futureResult.get()
}

/// One stream's throughput through an echo: writes 64 KiB buffers as fast as the connection
/// takes them (only while it is writable) for SECONDS, and counts the bytes that come back.
struct Stream: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One connection's echoed throughput; prints Gbit/s received.")
    @Option var port: Int
    @Option var seconds = 5
    @Option(help: "Speak WebSocket, upgrading this path.")
    var wsPath: String?

    func run() async throws {
        let done = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: (bytes: Int, nanoseconds: UInt64).self)
        let seconds = self.seconds
        let channel = try await connect(port: self.port, webSocketPath: self.wsPath) { Pump(seconds: seconds, done: done) }
        let (bytes, nanoseconds) = try await done.futureResult.get()
        try? await channel.close()
        print(#"{"gbps": \#(Double(bytes) * 8 / Double(nanoseconds))}"#)
    }

    /// Keeps the connection full while it is writable; counts what comes back until the time
    /// is up.
    final class Pump: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let seconds: Int
        let done: EventLoopPromise<(bytes: Int, nanoseconds: UInt64)>
        var received = 0
        var started: UInt64 = 0
        var finished = false
        let chunk = ByteBuffer(repeating: 0x5a, count: 64 * 1024)

        init(seconds: Int, done: EventLoopPromise<(bytes: Int, nanoseconds: UInt64)>) {
            self.seconds = seconds
            self.done = done
        }

        func handlerAdded(context: ChannelHandlerContext) {
            guard context.channel.isActive else { return }
            self.start(context)
        }

        func channelActive(context: ChannelHandlerContext) {
            self.start(context)
            context.fireChannelActive()
        }

        private func start(_ context: ChannelHandlerContext) {
            guard self.started == 0 else { return }
            self.started = DispatchTime.now().uptimeNanoseconds
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(self.seconds))) {
                self.finished = true
                self.done.succeed((self.received, DispatchTime.now().uptimeNanoseconds - self.started))
            }
            self.fill(context)
        }

        /// A flush per chunk: a WebSocket byte stream holds writes until the flush (one message
        /// each), so only flushed bytes count against writability.
        private func fill(_ context: ChannelHandlerContext) {
            while !self.finished, context.channel.isWritable {
                context.writeAndFlush(self.wrapOutboundOut(self.chunk), promise: nil)
            }
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            self.fill(context)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if !self.finished { self.received += self.unwrapInboundIn(data).readableBytes }
        }

        func channelInactive(context: ChannelHandlerContext) {
            struct Closed: Error {}
            self.done.fail(Closed())
        }
    }
}
