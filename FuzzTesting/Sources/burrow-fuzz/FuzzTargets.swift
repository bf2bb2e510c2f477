@testable import BurrowCore
import BurrowConfig
import BurrowMux
import BurrowProtocol
import BurrowTransport
import Logging
import NIOCore
import NIOEmbedded

/// One decoder under fuzz: a name, valid inputs to start from, and what to do with an input.
struct FuzzTarget {
    let name: String
    let seeds: () -> [[UInt8]]
    let run: ([UInt8]) -> Void
}

/// Every decoder that reads bytes a peer or a user controls. Stream handlers get the input cut
/// into reads whose size comes from the first byte, so partial frames and headers are explored.
enum FuzzTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "frames", seeds: { [[0] + Seeds.muxFrames] }, run: Self.frames),
        FuzzTarget(name: "mux-session", seeds: { [[0] + Seeds.muxFrames, [7] + Seeds.muxFrames] }, run: Self.muxSession),
        FuzzTarget(name: "preamble", seeds: { [Preamble.bytes, Array("GET / HTTP/1.1\r\n".utf8), [0x16, 3, 1]] }, run: Self.preamble),
        FuzzTarget(name: "control", seeds: { [[0] + Seeds.controlMessages] }, run: Self.control),
        FuzzTarget(name: "websocket-frames", seeds: { [[0] + Seeds.webSocketFrames(masked: true), [1] + Seeds.webSocketFrames(masked: false)] }, run: Self.webSocketFrames),
        FuzzTarget(name: "websocket-server", seeds: { [[0] + Seeds.upgradeRequest + Seeds.webSocketFrames(masked: true)] }, run: Self.webSocketServer),
        FuzzTarget(name: "websocket-client", seeds: { [[0] + Seeds.upgradeResponse + Seeds.webSocketFrames(masked: false)] }, run: Self.webSocketClient),
        FuzzTarget(name: "server-handshake", seeds: { [[0] + Preamble.bytes + Seeds.muxFrames] }, run: Self.serverHandshake),
        FuzzTarget(name: "client-handshake", seeds: { [[0] + Preamble.bytes + Seeds.muxFrames, [0] + Preamble.refusal("no")] }, run: Self.clientHandshake),
        FuzzTarget(name: "config", seeds: { Seeds.configs.map { Array($0.utf8) } }, run: Self.config),
    ]

    // MARK: - Values

    static func frames(_ input: [UInt8]) {
        var parser = FrameParser(maximumDataLength: 1 << 20)
        for var chunk in Self.reads(input) {
            do {
                while try parser.next(from: &chunk) != nil {}
            } catch {
                return
            }
        }
    }

    static func preamble(_ input: [UInt8]) {
        _ = Preamble.classify(ByteBuffer(bytes: input).readableBytesView)
    }

    static func control(_ input: [UInt8]) {
        var decoder = MessageDecoder<ControlMessage>()
        var buffer = ByteBuffer()
        for var chunk in Self.reads(input) {
            buffer.writeBuffer(&chunk)
            do {
                while try decoder.decode(buffer: &buffer) != nil {}
            } catch {
                return
            }
        }
        var header = ByteBuffer(bytes: input)
        _ = try? MessageFraming.read(VisitorHeader.self, from: &header)
    }

    static func webSocketFrames(_ input: [UInt8]) {
        var reader = WebSocketFrameReader(fromClient: (input.first ?? 0) & 1 == 0)
        for var chunk in Self.reads(input) {
            do {
                try reader.read(&chunk) { _ in }
            } catch {
                return
            }
        }
    }

    /// The TOML reader, then both typed walks over what it read.
    static func config(_ input: [UInt8]) {
        _ = try? AnyConfig.parse(bytes: input, environment: [:])
        _ = try? ServerConfig.parse(bytes: input, environment: [:])
        _ = try? ClientConfig.parse(bytes: input, environment: [:])
    }

    // MARK: - Handlers on an EmbeddedChannel

    static func muxSession(_ input: [UInt8]) {
        Self.feed(input) { channel in
            var configuration = MuxConfiguration(role: (input.first ?? 0) & 1 == 0 ? .acceptor : .dialer)
            configuration.keepAliveInterval = .seconds(1)
            let session = MuxSessionHandler(configuration: configuration) { stream in
                stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(EchoBack()) }
            }
            try channel.pipeline.syncOperations.addHandler(session)
            // A stream of our own too, so that outbound paths meet the input.
            session.openStream { stream in stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(EchoBack()) } }
                .whenSuccess { $0.writeAndFlush(ByteBuffer(string: "hello"), promise: nil) }
        }
    }

    static func serverHandshake(_ input: [UInt8]) {
        Self.feed(input) { channel in
            let handshake = ServerHandshakeHandler(timeout: .seconds(2), logger: Self.quiet, peer: PeerAddress(channel)) { context in
                let mux = MuxSessionHandler(configuration: MuxConfiguration(role: .acceptor)) { stream in
                    stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(EchoBack()) }
                }
                try context.pipeline.syncOperations.addHandler(mux, position: .after(context.handler))
            }
            try channel.pipeline.syncOperations.addHandler(handshake)
        }
    }

    static func clientHandshake(_ input: [UInt8]) {
        var ready: EventLoopPromise<Void>?
        Self.feed(input) { channel in
            let promise = channel.eventLoop.makePromise(of: Void.self)
            ready = promise
            let handshake = ClientHandshakeHandler(ready: promise) { context in
                let mux = MuxSessionHandler(configuration: MuxConfiguration(role: .dialer), inboundStreamInitializer: nil)
                try context.pipeline.syncOperations.addHandler(mux, position: .after(context.handler))
            }
            try channel.pipeline.syncOperations.addHandler(handshake)
        }
        ready?.fail(ChannelError.eof)
    }

    static func webSocketServer(_ input: [UInt8]) {
        Self.feed(input) { channel in
            try channel.pipeline.syncOperations.configureWebSocketServer(
                path: "/burrow", timeout: .seconds(2), onAnswer: { _ in }, onError: { _ in },
                onUpgrade: { upgraded, _ in upgraded.eventLoop.makeCompletedFuture { try upgraded.pipeline.syncOperations.addHandler(EchoBack()) } }
            )
        }
    }

    static func webSocketClient(_ input: [UInt8]) {
        Self.feed(input) { channel in
            try channel.pipeline.syncOperations.configureWebSocketClient(
                host: "example.com", path: "/burrow", headers: [("Origin", "https://example.com")], onFailure: { _ in },
                onUpgrade: { upgraded in try upgraded.pipeline.syncOperations.addHandler(EchoBack()) }
            )
        }
    }

    // MARK: - Plumbing

    static let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Sets up an active EmbeddedChannel, feeds it the input read by read (firing the read
    /// completions a real socket fires, and letting time pass for timers), then closes it and
    /// runs what is left, so promises and timers end too.
    static func feed(_ input: [UInt8], setUp: (EmbeddedChannel) throws -> Void) {
        let channel = EmbeddedChannel()
        defer {
            _ = try? channel.finish(acceptAlreadyClosed: true)
            channel.embeddedEventLoop.run()
            channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        }
        do {
            try setUp(channel)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        } catch {
            return
        }
        for chunk in Self.reads(input) {
            guard channel.isActive else { return }
            do {
                try channel.writeInbound(chunk)
            } catch {
                return
            }
            channel.pipeline.fireChannelReadComplete()
            while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
            while (try? channel.readInbound(as: ByteBuffer.self)) != nil {}
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(300))
        }
    }

    /// The input after its first byte, in reads of 1 to 64 bytes (the first byte decides).
    static func reads(_ input: [UInt8]) -> [ByteBuffer] {
        guard let first = input.first else { return [] }
        let size = Int(first % 64) + 1
        return stride(from: 1, to: input.count, by: size).map { start in
            ByteBuffer(bytes: input[start..<min(start + size, input.count)])
        }
    }
}

/// Writes back what it reads and closes on end of input: a peer for streams and upgrades.
final class EchoBack: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { context.close(promise: nil) }
    }
}

/// Valid inputs to start from.
enum Seeds {
    static var muxFrames: [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeFrame(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
        buffer.writeFrame(.data(streamID: 1, payload: ByteBuffer(string: "hello")))
        buffer.writeFrame(.ping(flags: .syn, opaque: 7))
        buffer.writeFrame(.windowUpdate(streamID: 1, flags: [], delta: 65536))
        buffer.writeFrame(.windowUpdate(streamID: 3, flags: .syn, delta: 0))
        buffer.writeFrame(.windowUpdate(streamID: 3, flags: .rst, delta: 0))
        buffer.writeFrame(.data(streamID: 1, flags: .fin, payload: ByteBuffer(string: "bye")))
        buffer.writeFrame(.goAway(.normal))
        return Array(buffer.readableBytesView)
    }

    static var controlMessages: [UInt8] {
        let messages: [ControlMessage] = [
            .challenge(.init(nonce: Base64.encode(Array(repeating: 1, count: 32)), serverVersion: "0.1.0")),
            .login(.init(name: "lab", tokenHint: "0011223344556677", clientNonce: "AAAA", proof: "AAAA", version: "0.1.0")),
            .loginOK(.init(sessionID: "1", heartbeatMilliseconds: 10_000, serverProof: "AAAA")),
            .openProxy(.init(name: "ssh", type: "tcp", remotePort: 6000)),
            .proxyRejected(.init(name: "ssh", code: .portInUse, reason: "busy")),
            .proxyClosed(.init(name: "ssh", remotePort: nil)),
        ]
        var buffer = ByteBuffer()
        for message in messages { try! MessageFraming.write(message, into: &buffer) }
        return Array(buffer.readableBytesView)
    }

    static func webSocketFrames(masked: Bool) -> [UInt8] {
        // A binary frame "hello", a ping, a close (1000); masked with a zero key when from a client.
        let mask: [UInt8] = masked ? [0, 0, 0, 0] : []
        let bit: UInt8 = masked ? 0x80 : 0
        return [0x82, bit | 5] + mask + Array("hello".utf8) + [0x89, bit | 1] + mask + [42] + [0x88, bit | 2] + mask + [0x03, 0xE8]
    }

    static let upgradeRequest = Array("""
        GET /burrow HTTP/1.1\r
        Host: example.com\r
        Upgrade: websocket\r
        Connection: Upgrade\r
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
        Sec-WebSocket-Version: 13\r
        \r

        """.utf8)

    static let upgradeResponse = Array("""
        HTTP/1.1 101 Switching Protocols\r
        Upgrade: websocket\r
        Connection: Upgrade\r
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r
        \r

        """.utf8)

    static let configs = [
        """
        bind = "0.0.0.0:7000"
        handshake_timeout = "10s"
        max_pending_logins = 256
        [tls]
        cert = "a.pem"
        key = "b.pem"
        [websocket]
        bind = "0.0.0.0:8080"
        path = "/burrow"
        [[tokens]]
        name = "home"
        token = "change-me-use-burrow-token"
        ports = [6000, "6100-6110"]
        """,
        """
        server = "wss://example.com/burrow"
        token = "change-me-use-burrow-token"
        name = "lab"
        heartbeat_interval = "10s"
        [tls]
        fingerprint = "ab:cd"
        [websocket]
        headers = { Host = "example.com" }
        [reconnect]
        initial_delay = "1s"
        [[proxies]]
        name = "ssh"
        local = "127.0.0.1:22"
        remote_port = 6000
        """,
    ]
}
