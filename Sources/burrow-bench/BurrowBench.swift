import ArgumentParser
import Dispatch
import Glibc
import NIOCore
import NIOPosix

/// Load generators for bench/run.sh. Each prints one JSON line, so the script stays simple and
/// the same client measures every target (direct, socat, ssh -R, burrow).
@main
struct BurrowBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burrow-bench",
        abstract: "Load generators for Burrow's benchmark (bench/run.sh).",
        subcommands: [Echo.self, Latency.self, Rate.self, Hold.self, Stream.self, UDPEcho.self, UDPLatency.self]
    )
}

/// Prints a line at once (stdout is a pipe to the script, which waits for it).
func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = Glibc.write(1, $0.baseAddress!, $0.count) }
}

struct Echo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "An echo server; prints 'LISTEN <port>'.")
    @Option var port = 0

    func run() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 4096)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { $0.pipeline.addHandler(EchoBack()) }
            .bind(host: "127.0.0.1", port: self.port).get()
        say("LISTEN \(channel.localAddress!.port!)")
        try await channel.closeFuture.get()
    }

    final class EchoBack: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
        func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    }
}

struct Latency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Round trips of SIZE-byte messages on one connection; prints p50/p99 in microseconds.")
    @Option var port: Int
    @Option var count = 20_000
    @Option var size = 64
    @Option(help: "Speak WebSocket, upgrading this path: each message is a WebSocket binary message.")
    var wsPath: String?

    func run() async throws {
        let done = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: [UInt64].self)
        let count = self.count, size = self.size
        let channel = try await connect(port: self.port, webSocketPath: self.wsPath) { PingPong(count: count, size: size, done: done) }
        var samples = try await done.futureResult.get().sorted()
        try await channel.close()
        samples.removeFirst(min(samples.count / 20, 100))  // warm-up
        samples.sort()
        func percentile(_ p: Double) -> Double { Double(samples[min(samples.count - 1, Int(Double(samples.count) * p))]) / 1000 }
        print(#"{"p50_us": \#(percentile(0.5)), "p99_us": \#(percentile(0.99)), "samples": \#(samples.count)}"#)
    }

    final class PingPong: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let count: Int
        let size: Int
        let done: EventLoopPromise<[UInt64]>
        var samples: [UInt64] = []
        var pending = 0
        var sent: UInt64 = 0

        init(count: Int, size: Int, done: EventLoopPromise<[UInt64]>) {
            self.count = count
            self.size = size
            self.done = done
            self.samples.reserveCapacity(count)
        }

        func channelActive(context: ChannelHandlerContext) { self.ping(context) }

        /// Added once a WebSocket is upgraded, the channel is already active.
        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { self.ping(context) }
        }

        func ping(_ context: ChannelHandlerContext) {
            self.pending = self.size
            self.sent = DispatchTime.now().uptimeNanoseconds
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(repeating: 0x42, count: self.size)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.pending -= self.unwrapInboundIn(data).readableBytes
            guard self.pending <= 0 else { return }
            self.samples.append(DispatchTime.now().uptimeNanoseconds - self.sent)
            if self.samples.count == self.count { self.done.succeed(self.samples) } else { self.ping(context) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            struct Closed: Error {}
            self.done.fail(Closed())
        }
    }
}

struct Rate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "New connections per second: connect, 1-byte echo, close; CONCURRENCY at a time.")
    @Option var port: Int
    @Option var seconds = 5.0
    @Option var concurrency = 16

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let deadline = NIODeadline.now() + .nanoseconds(Int64(self.seconds * 1e9))
        let started = DispatchTime.now().uptimeNanoseconds
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: self.port)
        let counts = try await withThrowingTaskGroup(of: (Int, Int).self) { tasks in
            for _ in 0..<self.concurrency {
                tasks.addTask {
                    var completed = 0, failed = 0
                    while NIODeadline.now() < deadline {
                        do {
                            let done = group.any().makePromise(of: Void.self)
                            let channel = try await ClientBootstrap(group: group)
                                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                                .channelInitializer { $0.pipeline.addHandler(OneByte(done: done)) }
                                .connect(to: address).get()
                            try await done.futureResult.get()
                            try? await channel.close()
                            completed += 1
                        } catch {
                            failed += 1
                        }
                    }
                    return (completed, failed)
                }
            }
            var total = (0, 0)
            for try await (completed, failed) in tasks { total = (total.0 + completed, total.1 + failed) }
            return total
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        print(#"{"connections_per_second": \#(Double(counts.0) / elapsed), "completed": \#(counts.0), "failed": \#(counts.1)}"#)
    }

    final class OneByte: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let done: EventLoopPromise<Void>
        init(done: EventLoopPromise<Void>) { self.done = done }
        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: [1])), promise: nil)
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { self.done.succeed(()) }
        func channelInactive(context: ChannelHandlerContext) {
            struct Closed: Error {}
            self.done.fail(Closed())
        }
    }
}

struct Hold: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open COUNT idle connections, print 'HELD <n>', keep them until stdin closes.")
    @Option var port: Int
    @Option var count = 10_000

    func run() async throws {
        var channels: [Channel] = []
        channels.reserveCapacity(self.count)
        for _ in 0..<self.count {
            channels.append(try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: self.port).get())
        }
        say("HELD \(channels.count)")
        while readLine() != nil {}
        for channel in channels { channel.close(promise: nil) }
    }
}
