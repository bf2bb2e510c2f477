import BurrowMux
import BurrowTestSupport
import NIOCore
import NIOEmbedded
import Testing

/// One session fed raw frames, as a hostile or buggy peer would send them.
@Suite struct SessionProtocolTests {
    /// An acceptor-side session whose inbound streams record what they get.
    final class Harness {
        let channel: EmbeddedChannel
        let session: MuxSessionHandler

        let collector = AcceptedChannels()

        init(role: StreamIDSpace.Role = .acceptor) throws {
            self.channel = EmbeddedChannel()
            let collector = self.collector
            self.session = MuxSessionHandler(configuration: MuxConfiguration(role: role)) { channel in
                collector.append(channel)
                return channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            }
            try self.channel.pipeline.syncOperations.addHandler(self.session)
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        /// Feeds frames as one read; returns the session error it raised, if any.
        @discardableResult
        func feed(_ frames: Frame...) -> MuxError? {
            var wire = ByteBuffer()
            for frame in frames { wire.writeFrame(frame) }
            do {
                try self.channel.writeInbound(wire)
                return nil
            } catch let error as MuxError {
                return error
            } catch {
                Issue.record("unexpected error \(error)")
                return nil
            }
        }

        /// Frames the session wrote.
        func written() throws -> [Frame] {
            var wire = ByteBuffer()
            while var buffer = try self.channel.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&buffer) }
            let processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(maximumDataLength: 1 << 24))
            var frames: [Frame] = []
            try processor.process(buffer: wire) { frames.append($0) }
            return frames
        }

        /// Asserts the session failed with `code`, said GoAway(protocol error) and closed.
        func expectProtocolError(_ error: MuxError?, _ code: MuxError.Code, sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(error?.code == code, sourceLocation: sourceLocation)
            #expect(try self.written().last == .goAway(.protocolError), sourceLocation: sourceLocation)
            #expect(!self.channel.isActive, sourceLocation: sourceLocation)
        }
    }

    final class AcceptedChannels: @unchecked Sendable {
        var channels: [Channel] = []
        func append(_ channel: Channel) { self.channels.append(channel) }
    }

    @Test func acceptsASYNAndAnswersWithACK() throws {
        let harness = try Harness()
        #expect(harness.feed(.windowUpdate(streamID: 1, flags: .syn, delta: 0)) == nil)
        #expect(try harness.written() == [.windowUpdate(streamID: 1, flags: .ack, delta: 0)])
        #expect(harness.collector.channels.count == 1)
        #expect(harness.session.streamCount == 1)
    }

    @Test func dataForAStreamNeverOpenedIsAProtocolError() throws {
        let harness = try Harness()
        let error = harness.feed(.data(streamID: 5, payload: ByteBuffer(string: "x")))
        try harness.expectProtocolError(error, .unknownStream)
    }

    @Test func synReusingALiveIDIsAProtocolError() throws {
        let harness = try Harness()
        harness.feed(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
        _ = try harness.written()
        let error = harness.feed(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
        try harness.expectProtocolError(error, .duplicateStream)
    }

    @Test func synWithOurOwnParityIsAProtocolError() throws {
        let harness = try Harness()
        let error = harness.feed(.windowUpdate(streamID: 2, flags: .syn, delta: 0))
        try harness.expectProtocolError(error, .wrongStreamParity)
    }

    @Test func dataBeyondTheReceiveWindowIsAProtocolError() throws {
        let harness = try Harness()
        let tooMuch = ByteBuffer(repeating: 7, count: Int(ReceiveWindow.initial) + 1)
        let error = harness.feed(.data(streamID: 1, flags: .syn, payload: tooMuch))
        try harness.expectProtocolError(error, .receiveWindowExceeded)
    }

    @Test func windowOverflowPast2To31IsAProtocolError() throws {
        let harness = try Harness()
        let error = harness.feed(
            .windowUpdate(streamID: 1, flags: .syn, delta: 0),
            .windowUpdate(streamID: 1, flags: [], delta: SendWindow.limit)
        )
        try harness.expectProtocolError(error, .sendWindowOverflow)
    }

    @Test func unknownVersionAndTypeAreProtocolErrors() throws {
        let badVersion = try Harness()
        var error: MuxError?
        do { try badVersion.channel.writeInbound(ByteBuffer(bytes: [9, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])) } catch let e as MuxError { error = e }
        try badVersion.expectProtocolError(error, .unsupportedVersion)

        let badType = try Harness()
        error = nil
        do { try badType.channel.writeInbound(ByteBuffer(bytes: [0, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])) } catch let e as MuxError { error = e }
        try badType.expectProtocolError(error, .unknownFrameType)
    }

    @Test func framesForAFinishedStreamAreDropped() throws {
        let harness = try Harness()
        harness.feed(.windowUpdate(streamID: 1, flags: [.syn, .rst], delta: 0))
        #expect(harness.session.streamCount == 0)
        // Frames still in flight for stream 1 are no error.
        #expect(harness.feed(.data(streamID: 1, payload: ByteBuffer(string: "late"))) == nil)
        #expect(harness.channel.isActive)
    }

    @Test func answersPingsWithTheSameOpaqueValue() throws {
        let harness = try Harness()
        harness.feed(.ping(flags: .syn, opaque: 42))
        #expect(try harness.written() == [.ping(flags: .ack, opaque: 42)])
    }

    @Test func dataAfterThePeersFINResetsThatStreamOnly() throws {
        let harness = try Harness()
        harness.feed(
            .windowUpdate(streamID: 1, flags: .syn, delta: 0),
            .windowUpdate(streamID: 3, flags: .syn, delta: 0),
            .data(streamID: 1, flags: .fin, payload: ByteBuffer())
        )
        _ = try harness.written()
        #expect(harness.feed(.data(streamID: 1, payload: ByteBuffer(string: "more"))) == nil)
        #expect(try harness.written() == [.windowUpdate(streamID: 1, flags: .rst, delta: 0)])
        #expect(harness.channel.isActive)
        #expect(harness.collector.channels[1].isActive)
    }

    @Test func refusesStreamsBeyondTheLimitWithRST() throws {
        let channel = EmbeddedChannel()
        var configuration = MuxConfiguration(role: .acceptor)
        configuration.maximumStreams = 1
        let session = MuxSessionHandler(configuration: configuration) { $0.eventLoop.makeSucceededVoidFuture() }
        try channel.pipeline.syncOperations.addHandler(session)
        var wire = ByteBuffer()
        wire.writeFrame(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
        wire.writeFrame(.windowUpdate(streamID: 3, flags: .syn, delta: 0))
        try channel.writeInbound(wire)
        var out = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { out.writeBuffer(&buffer) }
        var frames: [Frame] = []
        try NIOSingleStepByteToMessageProcessor(FrameDecoder(maximumDataLength: 1024)).process(buffer: out) { frames.append($0) }
        #expect(frames == [.windowUpdate(streamID: 1, flags: .ack, delta: 0), .windowUpdate(streamID: 3, flags: .rst, delta: 0)])
    }

    @Test func silenceForThreeIntervalsEndsTheSession() throws {
        let channel = EmbeddedChannel()
        var configuration = MuxConfiguration(role: .dialer)
        configuration.keepAliveInterval = .seconds(1)
        let session = MuxSessionHandler(configuration: configuration, inboundStreamInitializer: nil)
        try channel.pipeline.syncOperations.addHandler(session)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2500))
        #expect(channel.isActive)
        // A ping answer counts as life: three silent intervals are counted from it.
        var pong = ByteBuffer()
        pong.writeFrame(.ping(flags: .ack, opaque: 2))
        try channel.writeInbound(pong)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2999))
        #expect(channel.isActive)
        // One ping went out per interval meanwhile, so a healthy peer had something to answer.
        var pings = 0
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { pings += buffer.readableBytes / Frame.headerSize }
        #expect(pings == 5)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        #expect {
            try channel.throwIfErrorCaught()
        } throws: { error in
            (error as? MuxError)?.code == .keepAliveTimeout && "\(error)".contains("for 3.0 s")
        }
    }

    /// The owner's initializer may keep a stream (here in a promise, as the server keeps its
    /// control stream): once the session ends, the session, the stream and the promise must all
    /// be freed. They used to hold each other for ever, leaking every session on the server.
    @Test func anEndedSessionFreesItselfAndItsStreams() throws {
        weak var weakSession: MuxSessionHandler?
        weak var weakStream: Channel?
        try {
            let channel = EmbeddedChannel()
            let held = channel.eventLoop.makePromise(of: Channel.self)
            let session = MuxSessionHandler(configuration: MuxConfiguration(role: .acceptor)) { stream in
                held.succeed(stream)
                return stream.eventLoop.makeSucceededVoidFuture()
            }
            try channel.pipeline.syncOperations.addHandler(session)
            var wire = ByteBuffer()
            wire.writeFrame(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
            try channel.writeInbound(wire)
            weakSession = session
            weakStream = try held.futureResult.wait()
            #expect(weakStream?.isActive == true)
            _ = try channel.finish(acceptAlreadyClosed: true)
            channel.embeddedEventLoop.run()
        }()
        #expect(weakSession == nil)
        #expect(weakStream == nil)
    }

    /// A connection that dies in the middle of a data frame (a killed peer mid-transfer) frees
    /// the session and the stream the frame was for. The frame in progress used to keep its
    /// stream, and the stream its session, for ever. Found by the mux-session fuzz target.
    @Test func aSessionThatEndsMidFrameFreesItselfAndTheFramesStream() throws {
        weak var weakSession: MuxSessionHandler?
        weak var weakStream: Channel?
        try {
            let channel = EmbeddedChannel()
            let session = MuxSessionHandler(configuration: MuxConfiguration(role: .acceptor)) { $0.eventLoop.makeSucceededVoidFuture() }
            try channel.pipeline.syncOperations.addHandler(session)
            weakSession = session
            var wire = ByteBuffer()
            wire.writeFrame(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
            wire.writeFrameHeader(kind: .data, flags: [], streamID: 1, length: 1000)
            wire.writeString("the first bytes of a frame that never ends")
            try channel.writeInbound(wire)
            weakStream = session.stream(1)
            #expect(weakStream != nil)
            _ = try channel.finish(acceptAlreadyClosed: true)
            channel.embeddedEventLoop.run()
        }()
        #expect(weakSession == nil)
        #expect(weakStream == nil)
    }
}
