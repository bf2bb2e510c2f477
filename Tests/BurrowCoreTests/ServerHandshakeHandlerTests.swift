@testable import BurrowCore
import BurrowProtocol
import BurrowTransport
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// The server's first handler on an EmbeddedChannel, fed what clients and strangers send.
@Suite struct ServerHandshakeHandlerTests {
    /// Records what reaches the handler after the handshake (the session, in the server).
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var received = ByteBuffer()

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = self.unwrapInboundIn(data)
            self.received.writeBuffer(&bytes)
        }
    }

    struct Connection {
        let channel: EmbeddedChannel
        let loop: EmbeddedEventLoop
        let collector = Collector()
        var accepted = false

        /// What the server wrote back, all of it.
        func written() throws -> [UInt8] {
            var bytes: [UInt8] = []
            while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
            return bytes
        }
    }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A connection with the handshake handler, fed `chunks` one read each.
    private func connect(_ chunks: [[UInt8]]) throws -> Connection {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        var connection = Connection(channel: channel, loop: loop)
        let collector = connection.collector
        let accepted = NIOLoopBoundBox(false, eventLoop: loop)
        let handler = ServerHandshakeHandler(timeout: .seconds(5), logger: Self.quiet, peer: PeerAddress(address: nil)) { context in
            accepted.value = true
            try context.pipeline.syncOperations.addHandler(collector, position: .after(context.handler))
        }
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        for chunk in chunks where channel.isActive {
            try channel.writeInbound(ByteBuffer(bytes: chunk))
        }
        connection.accepted = accepted.value
        return connection
    }

    @Test func aClientsPreambleIsAnsweredAndTheBytesAfterItPassOn() throws {
        let preamble = Preamble.bytes
        // Split inside the preamble, with session bytes in the same read as its end.
        let connection = try self.connect([Array(preamble.prefix(3)), Array(preamble.dropFirst(3)) + [1, 2, 3]])
        #expect(connection.accepted)
        #expect(try connection.written() == preamble)
        #expect(Array(connection.collector.received.readableBytesView) == [1, 2, 3])
        #expect(throws: (any Error).self) { try connection.channel.pipeline.syncOperations.handler(type: ServerHandshakeHandler.self) }
        // Later bytes go straight to the session.
        try connection.channel.writeInbound(ByteBuffer(bytes: [4]))
        #expect(Array(connection.collector.received.readableBytesView) == [1, 2, 3, 4])
        #expect(connection.channel.isActive)
    }

    @Test func anHTTPRequestGetsA400AndTheDoorClosed() throws {
        let connection = try self.connect([Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)])
        #expect(!connection.accepted)
        #expect(try connection.written() == Preamble.httpRefusal)
        #expect(!connection.channel.isActive)
    }

    @Test func anotherProtocolVersionIsToldWhichThisServerSpeaks() throws {
        var other = Preamble.bytes
        other[other.count - 1] = Preamble.version &+ 1
        let connection = try self.connect([other])
        #expect(!connection.accepted)
        let answer = String(decoding: try connection.written(), as: UTF8.self)
        #expect(answer.hasSuffix("unsupported protocol version \(Preamble.version &+ 1); this server speaks \(Preamble.version)\n"))
        #expect(!connection.channel.isActive)
    }

    @Test func aTLSHelloOrGarbageIsClosedWithoutAWord() throws {
        for bytes in [[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01], Array("\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}".utf8)] {
            let connection = try self.connect([bytes])
            #expect(!connection.accepted)
            #expect(try connection.written().isEmpty)
            #expect(!connection.channel.isActive)
        }
    }

    @Test func aSilentPeerIsClosedAtTheTimeout() throws {
        let connection = try self.connect([Array(Preamble.bytes.prefix(2))])
        connection.loop.advanceTime(by: .seconds(4))
        #expect(connection.channel.isActive)
        connection.loop.advanceTime(by: .seconds(1))
        #expect(!connection.channel.isActive)
        #expect(!connection.accepted)
    }

    @Test func aFailedTLSHandshakeClosesTheConnection() throws {
        let connection = try self.connect([])
        connection.channel.pipeline.fireErrorCaught(BurrowError(.tlsHandshake, "bad record"))
        #expect(!connection.channel.isActive)
    }
}
