import BurrowTestSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// How a TCP connection ended, as the program holding it saw it.
enum Ending: Equatable, Sendable {
    /// The peer finished sending (FIN).
    case endOfFile
    /// The peer aborted (RST): ECONNRESET or EPIPE.
    case reset
    /// Another error.
    case failed(String)
}

/// A real TCP connection under test: counts what it receives, tells how it ended, and can
/// write, half-close or abort (SO_LINGER 0, so the peer gets RST).
final class ConnectionProbe: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let state = NIOLockedValueBox((received: 0, ending: Ending?.none))
    private let ended: EventLoopPromise<Ending>
    private let reachedPromise: EventLoopPromise<Void>
    private let target: Int
    let channel: Channel

    private init(channel: Channel, target: Int) {
        self.channel = channel
        self.target = target
        self.ended = channel.eventLoop.makePromise()
        self.reachedPromise = channel.eventLoop.makePromise()
    }

    /// Adds a probe to `channel`; `target` bytes received complete `reached`.
    static func install(on channel: Channel, target: Int = .max, autoRead: Bool = true) throws -> ConnectionProbe {
        let probe = ConnectionProbe(channel: channel, target: target)
        try channel.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        try channel.syncOptions!.setOption(ChannelOptions.autoRead, value: autoRead)
        try channel.pipeline.syncOperations.addHandler(probe)
        return probe
    }

    /// Connects to 127.0.0.1:`port` with a probe.
    static func connect(port: Int, target: Int = .max) async throws -> ConnectionProbe {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { _ = try Self.install(on: channel, target: target) } }
            .connect(host: "127.0.0.1", port: port)
            .flatMapThrowing { try $0.pipeline.syncOperations.handler(type: ConnectionProbe.self) }
            .get()
    }

    /// Connects, sends `payload` and says how the connection ended. A reset that comes before
    /// the connect completes (the tunnel refuses at once) is a reset too.
    static func ending(port: Int, sending payload: ByteBuffer) async throws -> Ending {
        let probe: ConnectionProbe
        do {
            probe = try await Self.connect(port: port)
        } catch where Self.isResetBeforeConnecting(error) {
            return .reset
        }
        try? await probe.write(payload)
        return try await probe.ending
    }

    /// Whether a connect failed because the far end reset the connection before NIO reported
    /// it connected (on a loaded machine a whole short exchange can happen in between).
    static func isResetBeforeConnecting(_ error: Error) -> Bool {
        guard let error = error as? NIOConnectionError else { return false }
        return error.connectionErrors.contains { Self.isReset($0.error) }
    }

    /// How the connection ended, as a future on its event loop (no guard timer).
    var endingFuture: EventLoopFuture<Ending> { self.ended.futureResult }

    var received: Int { self.state.withLockedValue { $0.received } }

    /// How the connection ended (waits for it; `.failed` if it has not ended within 20 s: a
    /// guard against a hanging test, not a synchronisation).
    var ending: Ending {
        get async throws {
            let guardTimer = self.channel.eventLoop.scheduleTask(in: .seconds(20)) {
                self.end(.failed("still open after 20 s"))
            }
            defer { guardTimer.cancel() }
            return try await self.ended.futureResult.get()
        }
    }

    /// Completes once `target` bytes have arrived (fails if the connection ends first, or
    /// nothing completes it within 20 s).
    func reached() async throws {
        let guardTimer = self.channel.eventLoop.scheduleTask(in: .seconds(20)) {
            self.reachedPromise.fail(ChannelError.connectTimeout(.seconds(20)))
        }
        defer { guardTimer.cancel() }
        try await self.reachedPromise.futureResult.get()
    }

    /// Writes and flushes. A write that fails because the peer reset the connection is how this
    /// connection ended: NIO closes the channel on a failed write without an `errorCaught`, so
    /// without this a reset that arrived just before the write would pass for a clean end.
    func write(_ buffer: ByteBuffer) async throws {
        try await self.writeAndFlush(buffer).get()
    }

    func writeAndFlush(_ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let written = self.channel.eventLoop.makePromise(of: Void.self)
        // Runs on the event loop as the write fails, before the channelInactive that follows.
        written.futureResult.whenFailure { error in
            if Self.isReset(error) { self.end(.reset) }
        }
        self.channel.writeAndFlush(buffer, promise: written)
        return written.futureResult
    }

    /// Whether `error` says the peer aborted the connection.
    static func isReset(_ error: Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return error.errnoCode == ECONNRESET || error.errnoCode == EPIPE
    }

    /// Aborts: the peer sees a reset.
    func abort() async throws {
        try await (self.channel as! SocketOptionProvider).setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        try await self.channel.close()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = self.state.withLockedValue { state in
            state.received += self.unwrapInboundIn(data).readableBytes
            return state.received
        }
        if count >= self.target { self.reachedPromise.succeed(()) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { self.end(.endOfFile) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if Self.isReset(error) {
            self.end(.reset)
        } else {
            self.end(.failed("\(error)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.end(.endOfFile)
    }

    /// A channel that never became active (its connect failed) ends here.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.end(.failed("closed before it was connected"))
    }

    private func end(_ ending: Ending) {
        let first = self.state.withLockedValue { state in
            defer { if state.ending == nil { state.ending = ending } }
            return state.ending == nil
        }
        guard first else { return }
        self.ended.succeed(ending)
        self.reachedPromise.fail(ChannelError.eof)
    }
}

/// A local service whose every accepted connection gets a probe, and optionally a greeting of
/// `greeting` bytes followed by an abort (a service that resets mid-download).
final class ProbedService: Sendable {
    let channel: Channel
    private let accepted: AsyncStream<ConnectionProbe>
    var port: Int { self.channel.localAddress!.port! }

    private init(channel: Channel, accepted: AsyncStream<ConnectionProbe>) {
        self.channel = channel
        self.accepted = accepted
    }

    /// - Parameters:
    ///   - reads: false: a service that never reads (its window fills, the visitor waits).
    ///   - sendThenReset: bytes to send to each connection before resetting it.
    static func start(reads: Bool = true, sendThenReset: Int? = nil) async throws -> ProbedService {
        let (stream, continuation) = AsyncStream.makeStream(of: ConnectionProbe.self)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let probe = try ConnectionProbe.install(on: channel, autoRead: reads)
                    continuation.yield(probe)
                    if let sendThenReset {
                        let payload = TestBytes.buffer(seed: 11, count: sendThenReset)
                        channel.writeAndFlush(payload).whenSuccess {
                            Task { try? await probe.abort() }
                        }
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ProbedService(channel: channel, accepted: stream)
    }

    /// The connections accepted so far and later, in order.
    func connections() -> AsyncStream<ConnectionProbe>.AsyncIterator { self.accepted.makeAsyncIterator() }
}
