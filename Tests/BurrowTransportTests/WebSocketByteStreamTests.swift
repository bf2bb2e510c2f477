import BurrowTransport
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// The WebSocket byte stream as values and on an `EmbeddedChannel`. NIO's own frame codec is the
/// independent reading of RFC 6455: its decoder checks what Burrow writes, its encoder writes
/// what Burrow reads.
@Suite struct WebSocketByteStreamTests {
    // MARK: - Framing values

    @Test func maskingEightBytesAtATimeMatchesTheBytewiseDefinition() throws {
        let key = WebSocketMaskingKey([0x12, 0x9a, 0xf0, 0x07])!
        for length in [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 1000] {
            for phase in 0..<8 {
                let source = ByteBuffer(bytes: (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) })
                var expected = source
                expected.webSocketMask(key, indexOffset: phase)
                var masked = ByteBuffer()
                WebSocketFraming.appendMasked(source, key: key, phase: phase, to: &masked)
                #expect(masked == expected, "length \(length), phase \(phase)")
            }
        }
    }

    @Test(arguments: [0, 125, 126, 65535, 65536, 300_000])
    func headersUseTheShortestLengthFormAndDecode(_ length: Int) throws {
        let payload = ByteBuffer(repeating: 0x5a, count: length)
        let key = WebSocketMaskingKey.random()
        var bytes = ByteBuffer()
        WebSocketFraming.writeHeader(opcode: .binary, length: length, maskKey: key, into: &bytes)
        let expectedHeader = 2 + (length < 126 ? 0 : length <= 0xFFFF ? 2 : 8) + 4
        #expect(bytes.readableBytes == expectedHeader)
        WebSocketFraming.appendMasked(payload, key: key, to: &bytes)
        let frames = try Self.decode(bytes)
        #expect(frames.count == 1)
        #expect(frames.first?.fin == true)
        #expect(frames.first?.opcode == .binary)
        #expect(frames.first?.maskKey == key)
        #expect(frames.first?.unmaskedData == payload)
    }

    // MARK: - Outbound

    @Test func writesUntilAFlushLeaveAsOneFrameAndTheServerDoesNotMask() throws {
        let channel = try Self.channel(.server)
        let parts = ["yamux header", "payload one", "payload two"].map { ByteBuffer(string: $0) }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let written = NIOLockedValueBox(false)
        promise.futureResult.whenSuccess { written.withLockedValue { $0 = true } }
        channel.write(parts[0], promise: nil)
        channel.write(parts[1], promise: nil)
        channel.write(parts[2], promise: promise)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing leaves before the flush")
        #expect(!written.withLockedValue { $0 })
        channel.flush()
        #expect(written.withLockedValue { $0 }, "the write's promise completes once its frame is written")
        let frames = try Self.decode(Self.drainOutbound(channel))
        #expect(frames.count == 1)
        #expect(frames.first?.maskKey == nil)
        #expect(frames.first.map { String(buffer: $0.data) } == "yamux headerpayload onepayload two")
        _ = try? channel.finish()
    }

    @Test func aClientMasksAndSplitsLargeWritesAtTheFrameLimit() throws {
        let channel = try Self.channel(.client)
        let limit = WebSocketByteStreamHandler.maximumFrameLength
        let payload = ByteBuffer(bytes: (0..<(2 * limit + limit / 2)).map { UInt8(truncatingIfNeeded: $0 % 251) })
        // Two writes whose boundary falls inside the first frame.
        var rest = payload
        channel.write(rest.readSlice(length: 1000)!, promise: nil)
        channel.write(rest, promise: nil)
        channel.flush()
        let frames = try Self.decode(Self.drainOutbound(channel))
        #expect(frames.map(\.length) == [limit, limit, limit / 2])
        #expect(frames.allSatisfy { $0.maskKey != nil && $0.opcode == .binary && $0.fin })
        var joined = ByteBuffer()
        for frame in frames {
            var data = frame.unmaskedData
            joined.writeBuffer(&data)
        }
        #expect(joined == payload)
        _ = try? channel.finish()
    }

    // MARK: - Inbound

    @Test func binaryAndContinuationPayloadsArriveAsBytesUnmasked() throws {
        let channel = try Self.channel(.server)
        let key = WebSocketMaskingKey.random()
        try channel.writeInbound(try Self.encode(WebSocketFrame(fin: false, opcode: .binary, maskKey: key, data: ByteBuffer(string: "first "))))
        try channel.writeInbound(try Self.encode(WebSocketFrame(fin: true, opcode: .continuation, maskKey: key, data: ByteBuffer(string: "second"))))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "first ")
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "second")
        _ = try? channel.finish()
    }

    @Test func pingsAreAnsweredWithTheirPayload() throws {
        let channel = try Self.channel(.client)
        try channel.writeInbound(try Self.encode(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "are you there"))))
        let frames = try Self.decode(Self.drainOutbound(channel))
        #expect(frames.count == 1)
        #expect(frames.first?.opcode == .pong)
        #expect(frames.first.map { String(buffer: $0.unmaskedData) } == "are you there")
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test func aCloseFrameIsAnsweredAndClosesTheConnection() throws {
        let channel = try Self.channel(.server)
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: .goingAway)
        try channel.writeInbound(try Self.encode(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: payload)))
        let frames = try Self.decode(Self.drainOutbound(channel))
        #expect(frames.map(\.opcode) == [.connectionClose])
        var answer = try #require(frames.first?.data)
        #expect(answer.readWebSocketErrorCode() == .normalClosure)
        #expect(!channel.isActive)
    }

    @Test func aTextFrameIsRefusedWith1003AndReported() throws {
        let channel = try Self.channel(.server)
        #expect(throws: WebSocketByteStreamHandler.ProtocolViolation.self) {
            try channel.writeInbound(try Self.encode(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: "hello"))))
        }
        let frames = try Self.decode(Self.drainOutbound(channel))
        var answer = try #require(frames.first { $0.opcode == .connectionClose }?.data)
        #expect(answer.readWebSocketErrorCode() == .unacceptableData)
        #expect(!channel.isActive)
    }

    @Test func closingTheConnectionSendsACloseFrameAfterPendingBytes() throws {
        let channel = try Self.channel(.server)
        channel.write(ByteBuffer(string: "last words"), promise: nil)
        channel.close(promise: nil)
        let frames = try Self.decode(Self.drainOutbound(channel))
        #expect(frames.map(\.opcode) == [.binary, .connectionClose])
        #expect(frames.first.map { String(buffer: $0.data) } == "last words")
    }

    // MARK: - A local service's WebSocket

    /// A service may answer in text: its payload is bytes like a binary one's.
    @Test func aServicesTextMessagesAreBytesWhenAccepted() throws {
        let channel = try Self.channel(.client, acceptsText: true)
        try channel.writeInbound(try Self.encode(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "hello\n"))))
        try channel.writeInbound(try Self.encode(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(string: "bytes"))))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "hello\n")
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "bytes")
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    /// WebSocket's half-close: a close frame after what was written, while reading goes on until
    /// the peer's close frame ends the connection; nothing more can be written meanwhile.
    @Test func closingTheOutputSendsACloseFrameAndReadsOnUntilThePeersClose() throws {
        let channel = try Self.channel(.client, acceptsText: true)
        channel.write(ByteBuffer(string: "request"), promise: nil)
        try channel.close(mode: .output).wait()
        let frames = try Self.decode(Self.drainOutbound(channel))
        #expect(frames.map(\.opcode) == [.binary, .connectionClose])
        #expect(frames.first.map { String(buffer: $0.unmaskedData) } == "request")
        #expect(throws: ChannelError.outputClosed) { try channel.writeAndFlush(ByteBuffer(string: "late")).wait() }

        try channel.writeInbound(try Self.encode(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(string: "answer"))))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "answer")
        #expect(channel.isActive)
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: .normalClosure)
        try channel.writeInbound(try Self.encode(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)))
        #expect(!channel.isActive)
    }

    /// An empty write (how the glue marks "after everything before") sends no message, and its
    /// promise still completes in order.
    /// An abort is not a clean end: no close frame, so the peer sees 1006 (and bytes not yet
    /// flushed are dropped, as a reset drops them).
    @Test func anAbortSendsNoCloseFrame() throws {
        let channel = try Self.channel(.server)
        channel.write(ByteBuffer(string: "unflushed"), promise: nil)
        channel.pipeline.triggerUserOutboundEvent(ConnectionAbortEvent(), promise: nil)
        try channel.close().wait()
        #expect(try Self.drainOutbound(channel).readableBytes == 0)
    }

    @Test func anEmptyWriteSendsNoMessage() throws {
        let channel = try Self.channel(.server)
        let written = channel.writeAndFlush(ByteBuffer())
        #expect(try Self.decode(Self.drainOutbound(channel)).isEmpty)
        try written.wait()
    }

    // MARK: - Helpers

    static func channel(_ role: WebSocketByteStreamHandler.Role, acceptsText: Bool = false) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: WebSocketByteStreamHandler(role: role, acceptsText: acceptsText))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// `frame` as NIO's encoder writes it.
    static func encode(_ frame: WebSocketFrame) throws -> ByteBuffer {
        let encoder = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try encoder.writeOutbound(frame)
        let bytes = try drainOutbound(encoder)
        _ = try? encoder.finish()
        return bytes
    }

    static func drainOutbound(_ channel: EmbeddedChannel) throws -> ByteBuffer {
        var all = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&chunk) }
        return all
    }

    /// Frames as NIO's decoder reads them from `bytes`.
    static func decode(_ bytes: ByteBuffer) throws -> [WebSocketFrame] {
        let decoder = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: WebSocketByteStreamHandler.maximumFrameLength)))
        try decoder.writeInbound(bytes)
        var frames: [WebSocketFrame] = []
        while let frame = try decoder.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        _ = try? decoder.finish()
        return frames
    }
}
