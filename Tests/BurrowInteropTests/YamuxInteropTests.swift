import BurrowMux
import BurrowTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Burrow's mux against hashicorp/yamux, the reference implementation, over real loopback TCP.
/// The Go side (yamux-peer/main.go) runs a script and prints a line per check; this side runs
/// its half and checks the Go side's verdict. Any drift in the wire format fails here.
@Suite struct YamuxInteropTests {
    enum Side: String, CaseIterable, Sendable {
        /// The Go peer dials and is the yamux client (odd ids); Burrow accepts (even ids).
        case burrowAccepts
        /// Burrow dials (odd ids); the Go peer listens and is the yamux server (even ids).
        case burrowDials
    }

    static let echoStreams = 32
    static let goStreams = 32
    static let size = 1 << 20

    @Test(arguments: Side.allCases)
    func burrowAndHashicorpYamuxInteroperate(_ side: Side) async throws {
        let peerBinary = try await YamuxPeerBuild.shared.path()
        let group = MultiThreadedEventLoopGroup.singleton
        let arguments = ["-streams", "\(Self.goStreams)", "-size", "\(Self.size)", "-expect", "\(Self.echoStreams)"]

        let peer: PeerProcess
        let session: SessionUnderTest
        var listener: Channel?
        switch side {
        case .burrowAccepts:
            let accepted = group.any().makePromise(of: SessionUnderTest.self)
            let server = try await ServerBootstrap(group: group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        accepted.succeed(try SessionUnderTest.install(on: channel, role: .acceptor))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            peer = try PeerProcess(peerBinary, ["-connect", "127.0.0.1:\(server.localAddress!.port!)"] + arguments)
            session = try await accepted.futureResult.get()
            // Closed only at the end: NIO closes an accepted channel whose listener closed
            // before the child's initializer finished.
            listener = server
        case .burrowDials:
            peer = try PeerProcess(peerBinary, ["-listen", "127.0.0.1:0"] + arguments)
            let port = try #require(Int(try await peer.line(startingWith: "LISTEN ").dropFirst("LISTEN ".count)))
            // The session must be in the pipeline before the first read: the Go side opens
            // streams the moment it accepts.
            let installed = group.any().makePromise(of: SessionUnderTest.self)
            _ = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        installed.succeed(try SessionUnderTest.install(on: channel, role: .dialer))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            session = try await installed.futureResult.get()
        }
        defer { peer.terminate() }

        do {
            // Streams Burrow opens: the Go side echoes them; Burrow half-closes right after sending,
            // so every echo byte travels on a stream that is already closed in the other direction.
            var echoes: [(sent: ByteBuffer, received: EventLoopFuture<ByteBuffer>)] = []
            for index in 0..<Self.echoStreams {
                var payload = ByteBuffer(string: "E")
                payload.writeImmutableBuffer(TestBytes.buffer(seed: UInt64(index), count: Self.size))
                echoes.append((payload, try await session.open(sending: payload)))
            }
            let resetDone = try await session.openResettingStream()

            for (index, echo) in echoes.enumerated() {
                let received = try await echo.received.get()
                #expect(received == echo.sent, "echo \(index) differs: \(received.readableBytes) bytes of \(echo.sent.readableBytes)")
            }
            try await resetDone.get()
            let rtt = try await session.ping()
            #expect(rtt > .zero)

            // The Go side finishes with GoAway: Burrow must then refuse to open streams.
            let code = try await session.goAwayReceived.get()
            #expect(code == GoAwayCode.normal.rawValue)
            let refused = await #expect(throws: MuxError.self) { _ = try await session.open(sending: ByteBuffer(string: "E")).get() }
            #expect(refused?.code == .goAwayReceived)
            #expect(try await session.goStreamsEchoed() == Self.goStreams)

            try await session.channel.close()
            try await listener?.close()
            let status = await peer.exitStatus()
            let lines = peer.lines
            #expect(status == 0, "yamux peer failed:\n\(lines.joined(separator: "\n"))")
            #expect(!lines.contains { $0.hasPrefix("FAIL") })
            #expect(lines.contains { $0.hasPrefix("OK opened \(Self.goStreams) streams") })
            #expect(lines.contains { $0.hasPrefix("OK ping answered") })
            #expect(lines.contains { $0.hasPrefix("OK echoed \(Self.echoStreams) streams") })
            #expect(lines.contains { $0.contains("reset by the Swift side") && $0.hasPrefix("OK") })
            #expect(lines.contains { $0.hasPrefix("OK session closed by the Swift side") })
        } catch {
            // Say which rule broke, and what the Go side saw, not only that a stream closed.
            let cause = await session.failure()
            Issue.record("the session failed: \(cause); the Go side printed:\n\(peer.lines.joined(separator: "\n"))")
            throw error
        }
    }
}

/// Burrow's side of the test: a session on a real TCP channel, echoing the streams the Go side
/// opens and recording the session's events.
final class SessionUnderTest: Sendable {
    let channel: Channel
    private let handler: NIOLoopBound<MuxSessionHandler>
    private let events: SessionEventRecorder
    private let echoedStreams: EchoCounter

    private init(channel: Channel, handler: MuxSessionHandler, events: SessionEventRecorder, echoed: EchoCounter) {
        self.channel = channel
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        self.events = events
        self.echoedStreams = echoed
    }

    static func install(on channel: Channel, role: StreamIDSpace.Role) throws -> SessionUnderTest {
        let echoed = EchoCounter(eventLoop: channel.eventLoop)
        let handler = MuxSessionHandler(configuration: MuxConfiguration(role: role)) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                try stream.pipeline.syncOperations.addHandler(EchoHandler())
                echoed.track(stream)
            }
        }
        let events = SessionEventRecorder(eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandlers(handler, events)
        return SessionUnderTest(channel: channel, handler: handler, events: events, echoed: echoed)
    }

    /// Opens a stream that sends `payload`, half-closes, and collects the echo.
    func open(sending payload: ByteBuffer) async throws -> EventLoopFuture<ByteBuffer> {
        let handler = self.handler
        let loop = self.channel.eventLoop
        return try await loop.flatSubmit { handler.value.openEndpoint(sending: payload, on: loop) }.get()
    }

    /// Opens a stream, asks the Go side for one byte, then resets the stream.
    func openResettingStream() async throws -> EventLoopFuture<Void> {
        let handler = self.handler
        let loop = self.channel.eventLoop
        return try await loop.flatSubmit {
            let resetter = ResetAfterFirstByte(eventLoop: loop)
            return handler.value.openStream { stream in
                stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(resetter) }
            }.flatMap { stream in
                stream.writeAndFlush(ByteBuffer(string: "R")).map { resetter.done }
            }
        }.get()
    }

    func ping() async throws -> TimeAmount {
        let handler = self.handler
        return try await self.channel.eventLoop.flatSubmit { handler.value.ping() }.get()
    }

    var goAwayReceived: EventLoopFuture<UInt32> { self.events.goAway }

    /// The error the session failed with, in words ("none" if it did not fail).
    func failure() async -> String {
        let events = self.events
        return (try? await self.channel.eventLoop.submit { events.failure.map { "\($0)" } ?? "none" }.get()) ?? "unknown"
    }

    func goStreamsEchoed() async throws -> Int {
        try await self.echoedStreams.finished(count: YamuxInteropTests.goStreams).get()
    }
}

/// Records the session's GoAway event, and the error the session failed with (so that a
/// failure says which rule of the protocol broke).
final class SessionEventRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Never
    private let goAwayPromise: EventLoopPromise<UInt32>
    var goAway: EventLoopFuture<UInt32> { self.goAwayPromise.futureResult }
    /// The session's error, passed down the pipeline when it fails. Event-loop confined.
    private(set) var failure: Error?

    init(eventLoop: EventLoop) { self.goAwayPromise = eventLoop.makePromise() }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.failure = self.failure ?? error
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.goAwayReceived(let code)) = event as? MuxSessionHandler.Event {
            self.goAwayPromise.succeed(code)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        struct ClosedBeforeGoAway: Error {}
        self.goAwayPromise.fail(ClosedBeforeGoAway())
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        struct RemovedBeforeGoAway: Error {}
        self.goAwayPromise.fail(RemovedBeforeGoAway())
    }
}

/// Counts the streams opened by the Go side that ran to their end.
final class EchoCounter: @unchecked Sendable {
    private let eventLoop: EventLoop
    private var finished = 0
    private var waiter: (count: Int, promise: EventLoopPromise<Int>)?

    init(eventLoop: EventLoop) { self.eventLoop = eventLoop }

    func track(_ stream: Channel) {
        stream.closeFuture.whenComplete { _ in
            self.finished += 1
            if let waiter = self.waiter, self.finished >= waiter.count { waiter.promise.succeed(self.finished) }
        }
    }

    func finished(count: Int) -> EventLoopFuture<Int> {
        self.eventLoop.flatSubmit {
            if self.finished >= count { return self.eventLoop.makeSucceededFuture(self.finished) }
            let promise = self.eventLoop.makePromise(of: Int.self)
            self.waiter = (count, promise)
            return promise.futureResult
        }
    }
}

/// Waits for the peer's first byte, then resets the stream.
final class ResetAfterFirstByte: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Void>
    var done: EventLoopFuture<Void> { self.promise.futureResult }

    init(eventLoop: EventLoop) { self.promise = eventLoop.makePromise() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.triggerUserOutboundEvent(MuxStreamResetEvent(), promise: nil)
        self.promise.succeed(())
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.succeed(())
        context.fireChannelInactive()
    }
}

/// Builds the Go peer once per test run, with Debian's golang-go and hashicorp/yamux.
actor YamuxPeerBuild {
    static let shared = YamuxPeerBuild()
    private var built: String?

    func path() async throws -> String {
        if let built { return built }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("yamux-peer/main.go").path
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("burrow-yamux-peer-\(getpid())").path
        guard let go = ["/usr/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw PeerProcess.Failure(description: "no Go toolchain: install Debian's golang-go and golang-github-hashicorp-yamux-dev (.ci/run does)")
        }
        let build = try PeerProcess(
            go, ["build", "-o", output, source],
            environment: ["GOPATH": "/usr/share/gocode", "GO111MODULE": "off", "GOFLAGS": "", "GOCACHE": NSTemporaryDirectory() + "burrow-gocache"]
        )
        let status = await build.exitStatus()
        guard status == 0 else {
            throw PeerProcess.Failure(description: "building the yamux peer failed (\(status)); is golang-github-hashicorp-yamux-dev installed?")
        }
        self.built = output
        return output
    }
}
