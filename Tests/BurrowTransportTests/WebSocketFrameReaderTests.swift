import BurrowTransport
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// `WebSocketFrameReader` as a value: bytes in, events out, however the bytes are split.
@Suite struct WebSocketFrameReaderTests {
    /// A client's stream as NIO's encoder writes it: data split over frames of every length
    /// form, a ping in the middle, an empty frame, a close at the end.
    static func clientStream() throws -> (bytes: ByteBuffer, payload: ByteBuffer) {
        let payload = ByteBuffer(bytes: (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        var rest = payload
        var frames: [WebSocketFrame] = []
        frames.append(WebSocketFrame(fin: false, opcode: .binary, maskKey: .random(), data: rest.readSlice(length: 100)!))
        frames.append(WebSocketFrame(fin: true, opcode: .ping, maskKey: .random(), data: ByteBuffer(string: "ping!")))
        frames.append(WebSocketFrame(fin: false, opcode: .continuation, maskKey: .random(), data: rest.readSlice(length: 1000)!))
        frames.append(WebSocketFrame(fin: false, opcode: .continuation, maskKey: .random(), data: ByteBuffer()))
        frames.append(WebSocketFrame(fin: true, opcode: .continuation, maskKey: .random(), data: rest.readSlice(length: 70_000)!))
        frames.append(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: rest))
        var close = ByteBuffer()
        close.write(webSocketErrorCode: .normalClosure)
        frames.append(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: close))
        var bytes = ByteBuffer()
        for frame in frames {
            var encoded = try WebSocketByteStreamTests.encode(frame)
            bytes.writeBuffer(&encoded)
        }
        return (bytes, payload)
    }

    /// Feeds `bytes` in pieces of `size` and collects what came out.
    static func read(_ bytes: ByteBuffer, pieces size: Int) throws -> (data: ByteBuffer, controls: [WebSocketOpcode]) {
        var reader = WebSocketFrameReader(fromClient: true)
        var data = ByteBuffer()
        var controls: [WebSocketOpcode] = []
        var rest = bytes
        while rest.readableBytes > 0 {
            var piece = rest.readSlice(length: min(size, rest.readableBytes))!
            try reader.read(&piece) { event in
                switch event {
                case .data(var chunk): data.writeBuffer(&chunk)
                case .control(let opcode, let payload):
                    controls.append(opcode)
                    if opcode == .ping { #expect(String(buffer: payload) == "ping!") }
                }
            }
            #expect(piece.readableBytes == 0, "the reader consumes everything it is given")
        }
        return (data, controls)
    }

    @Test(arguments: [1, 2, 3, 13, 1000, 65_536, 1 << 20])
    func anySplitOfTheBytesGivesTheSamePayloadAndControls(_ size: Int) throws {
        let (bytes, payload) = try Self.clientStream()
        let (data, controls) = try Self.read(bytes, pieces: size)
        #expect(data == payload)
        #expect(controls == [.ping, .connectionClose])
    }

    @Test func dataIsHandedOutAsItArrivesNotWhenTheFrameEnds() throws {
        var reader = WebSocketFrameReader(fromClient: false)
        var bytes = ByteBuffer()
        WebSocketFraming.writeHeader(opcode: .binary, length: 1_000_000, maskKey: nil, into: &bytes)
        bytes.writeBytes([UInt8](repeating: 9, count: 1000))
        var seen = 0
        try reader.read(&bytes) { event in
            if case .data(let chunk) = event { seen += chunk.readableBytes }
        }
        #expect(seen == 1000)
    }

    @Test(arguments: [
        // (bytes, fromClient, close code)
        ([0x81, 0x80, 1, 2, 3, 4] as [UInt8], true, UInt16(1003)),          // text
        ([0xC2, 0x80, 1, 2, 3, 4], true, 1002),                             // RSV1 set, no extension
        ([0x82, 0x00], true, 1002),                                         // unmasked from a client
        ([0x82, 0x80, 1, 2, 3, 4], false, 1002),                            // masked from a server
        ([0x09, 0x80, 1, 2, 3, 4], true, 1002),                             // fragmented ping
        ([0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4], true, 1002),                 // ping longer than 125
        ([0x83, 0x80, 1, 2, 3, 4], true, 1002),                             // reserved opcode 3
        ([0x82, 0xFF, 0x7F, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], true, 1009),  // a frame of 2^63 bytes
    ])
    func whatIsNotABurrowWebSocketIsRefusedWithItsCloseCode(_ bytes: [UInt8], _ fromClient: Bool, _ code: UInt16) {
        var reader = WebSocketFrameReader(fromClient: fromClient)
        var input = ByteBuffer(bytes: bytes)
        #expect {
            try reader.read(&input) { _ in }
        } throws: { error in
            (error as? WebSocketFrameReader.Violation)?.code == code
        }
    }
}
