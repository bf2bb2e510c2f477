import ArgumentParser
import Dispatch
import NIOCore
import NIOPosix

/// A UDP echo service: every datagram goes back to its sender.
struct UDPEcho: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "udp-echo", abstract: "A UDP echo server; prints 'LISTEN <port>'.")
    @Option var port = 0

    func run() async throws {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelInitializer { $0.pipeline.addHandler(EchoBack()) }
            .bind(host: "127.0.0.1", port: self.port).get()
        say("LISTEN \(channel.localAddress!.port!)")
        try await channel.closeFuture.get()
    }

    final class EchoBack: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
        func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    }
}

/// Round trips of one datagram at a time. A datagram not answered within the timeout counts as
/// lost and the next one goes; each carries its sequence number, so a late answer is ignored.
struct UDPLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udp-latency", abstract: "Round trips of SIZE-byte datagrams, one at a time; prints p50/p99 in microseconds and the count lost."
    )
    @Option var port: Int
    @Option var count = 20_000
    @Option var size = 64
    @Option(help: "Milliseconds to wait for an answer before counting the datagram lost.") var timeout = 200

    func run() async throws {
        let done = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: ([UInt64], Int).self)
        let pinger = Pinger(count: self.count, size: max(self.size, 8), timeout: .milliseconds(Int64(self.timeout)), done: done)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { $0.pipeline.addHandler(pinger) }
            .connect(host: "127.0.0.1", port: self.port).get()
        channel.pipeline.fireUserInboundEventTriggered(Pinger.Start())
        var (samples, lost) = try await done.futureResult.get()
        try await channel.close()
        samples.removeFirst(min(samples.count / 20, 100))  // warm-up
        samples.sort()
        func percentile(_ p: Double) -> Double {
            samples.isEmpty ? 0 : Double(samples[min(samples.count - 1, Int(Double(samples.count) * p))]) / 1000
        }
        print(#"{"p50_us": \#(percentile(0.5)), "p99_us": \#(percentile(0.99)), "samples": \#(samples.count), "lost": \#(lost)}"#)
    }

    final class Pinger: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        struct Start {}

        let count: Int
        let size: Int
        let timeout: TimeAmount
        let done: EventLoopPromise<([UInt64], Int)>
        var samples: [UInt64] = []
        var lost = 0
        var sequence: UInt64 = 0
        var sent: UInt64 = 0
        var deadline: Scheduled<Void>?

        init(count: Int, size: Int, timeout: TimeAmount, done: EventLoopPromise<([UInt64], Int)>) {
            self.count = count
            self.size = size
            self.timeout = timeout
            self.done = done
            self.samples.reserveCapacity(count)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is Start { self.ping(context) }
        }

        func ping(_ context: ChannelHandlerContext) {
            guard self.samples.count + self.lost < self.count else {
                self.done.succeed((self.samples, self.lost))
                return
            }
            self.sequence += 1
            var payload = ByteBuffer(repeating: 0x42, count: self.size)
            payload.setInteger(self.sequence, at: 0)
            self.sent = DispatchTime.now().uptimeNanoseconds
            context.writeAndFlush(self.wrapOutboundOut(AddressedEnvelope(remoteAddress: context.channel.remoteAddress!, data: payload)), promise: nil)
            let sequence = self.sequence
            self.deadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: self.timeout) {
                guard self.sequence == sequence else { return }
                self.lost += 1
                self.ping(context)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let payload = self.unwrapInboundIn(data).data
            guard payload.getInteger(at: payload.readerIndex, as: UInt64.self) == self.sequence else { return }
            self.samples.append(DispatchTime.now().uptimeNanoseconds - self.sent)
            self.deadline?.cancel()
            self.ping(context)
        }
    }
}
