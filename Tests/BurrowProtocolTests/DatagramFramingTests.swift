import BurrowProtocol
import NIOCore
import NIOEmbedded
import Testing

/// Datagrams on a flow's stream: a 2-byte length, then the bytes.
@Suite struct DatagramFramingTests {
    func decode(_ reads: [[UInt8]]) throws -> (datagrams: [[UInt8]], channel: EmbeddedChannel) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(DatagramFrameDecoder()))
        for read in reads { try channel.writeInbound(ByteBuffer(bytes: read)) }
        var datagrams: [[UInt8]] = []
        while let datagram = try channel.readInbound(as: ByteBuffer.self) { datagrams.append(Array(datagram.readableBytesView)) }
        return (datagrams, channel)
    }

    @Test func framesRoundTripWhateverTheReads() throws {
        var stream: [UInt8] = []
        let payloads: [[UInt8]] = [[], [1], Array(repeating: 7, count: 300), Array(repeating: 9, count: DatagramFraming.maximumLength)]
        for payload in payloads {
            stream += DatagramFraming.frame(ByteBuffer(bytes: payload), allocator: ByteBufferAllocator()).readableBytesView
        }
        #expect(Array(stream.prefix(5)) == [0, 0, 0, 1, 1])
        // One read, then reads of 3 bytes: the same datagrams.
        #expect(try self.decode([stream]).datagrams == payloads)
        let chunks = stride(from: 0, to: stream.count, by: 3).map { Array(stream[$0..<min($0 + 3, stream.count)]) }
        #expect(try self.decode(chunks).datagrams == payloads)
    }

    /// A length past the largest datagram is a broken flow: an error (its stream is reset), not
    /// a crash or a wait for bytes that should not come.
    @Test func aLengthPastTheLargestDatagramIsAnError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(DatagramFrameDecoder()))
        #expect(throws: DatagramFraming.TooLong(length: 65_528)) {
            try channel.writeInbound(ByteBuffer(bytes: [0xFF, 0xF8, 1, 2, 3]))
        }
    }

    @Test func aDatagramCutOffByTheEndOfTheStreamIsDropped() throws {
        let (datagrams, channel) = try self.decode([[0, 1, 42, 0, 5, 1, 2]])
        #expect(datagrams == [[42]])
        _ = try channel.finish()
    }
}
