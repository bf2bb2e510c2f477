import BurrowMux
import NIOCore
import Testing

@Suite struct FrameDecoderTests {
    static let samples: [Frame] = [
        .data(streamID: 1, flags: [.syn], payload: ByteBuffer(string: "hello")),
        .data(streamID: 2, flags: [.fin], payload: ByteBuffer()),
        .data(streamID: 7, payload: TestBytesLite.buffer(count: 70_000)),
        .windowUpdate(streamID: 3, flags: [.ack], delta: 262_144),
        .windowUpdate(streamID: 4, flags: [.rst], delta: 0),
        .windowUpdate(streamID: UInt32.max - 1, flags: [.syn, .fin], delta: 1),
        .ping(flags: .syn, opaque: 0xDEAD_BEEF),
        .ping(flags: .ack, opaque: 1),
        .goAway(.normal),
        .goAway(.protocolError),
        .goAway(.internalError),
    ]

    private func decodeAll(_ input: ByteBuffer, chunk: Int?) throws -> [Frame] {
        let processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(maximumDataLength: 1 << 20))
        var frames: [Frame] = []
        var input = input
        if let chunk {
            while input.readableBytes > 0 {
                let piece = input.readSlice(length: min(chunk, input.readableBytes))!
                try processor.process(buffer: piece) { frames.append($0) }
            }
        } else {
            try processor.process(buffer: input) { frames.append($0) }
        }
        #expect(processor.unprocessedBytes == 0)
        return frames
    }

    @Test(arguments: samples)
    func everyFrameRoundTrips(_ frame: Frame) throws {
        var wire = ByteBuffer()
        wire.writeFrame(frame)
        #expect(wire.readableBytes == Frame.headerSize + frame.payload.readableBytes)
        #expect(try self.decodeAll(wire, chunk: nil) == [frame])
    }

    @Test func headerLayoutIsBigEndianAsSpecified() {
        var wire = ByteBuffer()
        wire.writeFrame(.windowUpdate(streamID: 0x0102_0304, flags: [.syn, .ack], delta: 0x0A0B_0C0D))
        #expect(Array(wire.readableBytesView) == [0, 1, 0, 3, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D])
    }

    @Test func oneByteAtATimeDecodesExactlyAsWhole() throws {
        var wire = ByteBuffer()
        for frame in Self.samples { wire.writeFrame(frame) }
        let whole = try self.decodeAll(wire, chunk: nil)
        #expect(whole == Self.samples)
        #expect(try self.decodeAll(wire, chunk: 1) == whole)
        #expect(try self.decodeAll(wire, chunk: 13) == whole)
    }

    @Test func payloadIsASliceNotACopy() throws {
        var wire = ByteBuffer()
        wire.writeFrame(.data(streamID: 1, payload: ByteBuffer(string: "zero copy")))
        var decoder = FrameDecoder(maximumDataLength: 1024)
        let frame = try #require(try decoder.decode(buffer: &wire))
        let sharesStorage = frame.payload.withUnsafeReadableBytes { payload in
            wire.withUnsafeReadableBytes { rest in payload.baseAddress! + payload.count == rest.baseAddress! }
        }
        #expect(sharesStorage)
    }

    @Test func rejectsUnknownVersion() {
        var wire = ByteBuffer(bytes: [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        var decoder = FrameDecoder(maximumDataLength: 1024)
        #expect(throws: MuxError.self) { _ = try decoder.decode(buffer: &wire) }
        #expect(Self.code { _ = try decoder.decode(buffer: &wire) } == .unsupportedVersion)
    }

    @Test func rejectsUnknownType() {
        var wire = ByteBuffer(bytes: [0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        var decoder = FrameDecoder(maximumDataLength: 1024)
        #expect(Self.code { _ = try decoder.decode(buffer: &wire) } == .unknownFrameType)
    }

    @Test func rejectsDataLongerThanAnyWindowBeforeBufferingIt() {
        // Only the header has arrived: the length alone must be refused.
        var wire = ByteBuffer()
        wire.writeFrameHeader(kind: .data, flags: [], streamID: 1, length: 1025)
        var decoder = FrameDecoder(maximumDataLength: 1024)
        #expect(Self.code { _ = try decoder.decode(buffer: &wire) } == .frameTooLarge)
    }

    @Test func waitsForTheWholePayload() throws {
        var wire = ByteBuffer()
        wire.writeFrameHeader(kind: .data, flags: [], streamID: 1, length: 10)
        wire.writeString("12345")
        var decoder = FrameDecoder(maximumDataLength: 1024)
        #expect(try decoder.decode(buffer: &wire) == nil)
        #expect(wire.readableBytes == 17)
    }

    static func code(_ body: () throws -> Void) -> MuxError.Code? {
        do {
            try body()
            return nil
        } catch let error as MuxError {
            return error.code
        } catch {
            return nil
        }
    }
}

/// Bytes for value tests that do not need the test-support module.
enum TestBytesLite {
    static func buffer(count: Int) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
    }
}

@Suite struct FrameParserTests {
    /// Reassembles parser events into whole frames.
    private func frames(from wire: ByteBuffer, chunk: Int) throws -> (frames: [Frame], payloadEvents: Int) {
        var parser = FrameParser(maximumDataLength: 1 << 20)
        var frames: [Frame] = []
        var events = 0
        var input = wire
        while input.readableBytes > 0 {
            var piece = input.readSlice(length: min(chunk, input.readableBytes))!
            while let event = try parser.next(from: &piece) {
                switch event {
                case .frame(let frame):
                    frames.append(frame)
                case .payload(var bytes, let last):
                    events += 1
                    frames[frames.count - 1].payload.writeBuffer(&bytes)
                    if last { #expect(frames[frames.count - 1].payload.readableBytes == Int(frames[frames.count - 1].length)) }
                }
            }
        }
        return (frames, events)
    }

    @Test func anySplitOfTheInputGivesTheSameFrames() throws {
        var wire = ByteBuffer()
        for frame in FrameDecoderTests.samples { wire.writeFrame(frame) }
        for chunk in [1, 5, 12, 13, 1000, wire.readableBytes] {
            #expect(try self.frames(from: wire, chunk: chunk).frames == FrameDecoderTests.samples, "chunk \(chunk)")
        }
    }

    @Test func payloadsArriveAsTheyCameWithoutWaitingForTheWholeFrame() throws {
        var wire = ByteBuffer()
        wire.writeFrame(.data(streamID: 1, payload: ByteBuffer(repeating: 1, count: 30_000)))
        let (frames, events) = try self.frames(from: wire, chunk: 10_000)
        #expect(frames.count == 1)
        #expect(events == 4)  // 9,988 + 10,000 + 10,000 + 12
    }

    @Test func rejectsBadHeadersAsTheDecoderDoes() {
        var parser = FrameParser(maximumDataLength: 1024)
        var badType = ByteBuffer(bytes: [0, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        #expect(FrameDecoderTests.code { _ = try parser.next(from: &badType) } == .unknownFrameType)
        var tooLong = ByteBuffer()
        tooLong.writeFrameHeader(kind: .data, flags: [], streamID: 1, length: 1025)
        var fresh = FrameParser(maximumDataLength: 1024)
        #expect(FrameDecoderTests.code { _ = try fresh.next(from: &tooLong) } == .frameTooLarge)
    }
}
