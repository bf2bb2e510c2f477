import BurrowMux
import Testing

@Suite struct FlowControlTests {
    @Test func creditReturnsOnlyForConsumedBytesAndInHalfWindowBatches() throws {
        var window = ReceiveWindow(maximum: ReceiveWindow.initial)
        try window.receive(200_000, streamID: 1)
        #expect(window.available == ReceiveWindow.initial - 200_000)
        #expect(window.buffered == 200_000)
        // Arrival alone returns nothing; consumption below half the window neither.
        let early = window.consume(100_000)
        #expect(early == nil)
        // Crossing half the window returns everything owed.
        let due = window.consume(50_000)
        #expect(due == 150_000)
        #expect(window.available == ReceiveWindow.initial - 50_000)
        #expect(window.buffered == 50_000)
    }

    @Test func rejectsDataBeyondTheWindow() throws {
        var window = ReceiveWindow(maximum: ReceiveWindow.initial)
        try window.receive(Int(ReceiveWindow.initial), streamID: 3)
        #expect(FrameDecoderTests.code { try window.receive(1, streamID: 3) } == .receiveWindowExceeded)
    }

    @Test func growsWhenTheSenderStallsOnTheWindowAndTheReaderKeepsUp() throws {
        var window = ReceiveWindow(maximum: 4 * ReceiveWindow.initial)
        try window.receive(Int(ReceiveWindow.initial), streamID: 1)
        let update = window.consume(Int(ReceiveWindow.initial))
        let delta = try #require(update)
        #expect(window.window == 2 * ReceiveWindow.initial)
        #expect(delta == 2 * ReceiveWindow.initial)
        #expect(window.available == 2 * ReceiveWindow.initial)
        // It never grows past the maximum.
        for _ in 0..<4 {
            try window.receive(Int(window.available), streamID: 1)
            _ = window.consume(window.buffered)
        }
        #expect(window.window == 4 * ReceiveWindow.initial)
    }

    @Test func doesNotGrowForABackloggedReader() throws {
        var window = ReceiveWindow(maximum: 16 * ReceiveWindow.initial)
        try window.receive(Int(ReceiveWindow.initial), streamID: 1)
        _ = window.consume(Int(ReceiveWindow.initial) / 2)
        #expect(window.window == ReceiveWindow.initial)
    }

    @Test func sendWindowOverflowPast2To31IsAnError() throws {
        var send = SendWindow()
        try send.grant(SendWindow.limit - ReceiveWindow.initial, streamID: 1)
        #expect(send.credit == SendWindow.limit)
        #expect(FrameDecoderTests.code { try send.grant(1, streamID: 1) } == .sendWindowOverflow)
        let taken = send.take(upTo: 10)
        #expect(taken == 10)
    }
}

@Suite struct StreamStateMachineTests {
    @Test func openerSendsSYNOnceAndAcceptorACKsOnce() {
        var opener = StreamStateMachine.outbound()
        let first = opener.openingFlags(), second = opener.openingFlags()
        #expect(first == .syn)
        #expect(second == [])
        var acceptor = StreamStateMachine.inbound()
        let ack = acceptor.openingFlags(), none = acceptor.openingFlags()
        #expect(ack == .ack)
        #expect(none == [])
    }

    @Test func halfCloseKeepsTheOtherDirection() throws {
        var state = StreamStateMachine.outbound()
        let sent = state.sendFIN()
        #expect(sent)
        #expect(!state.canSend)
        #expect(state.canReceive)
        #expect(!state.isFinished)
        let effect = try state.receive(flags: [.fin], carriesData: true, streamID: 1)
        #expect(effect == .remoteFinished)
        #expect(state.isFinished)
    }

    @Test func dataOrFINAfterThePeersFINIsRefused() throws {
        var state = StreamStateMachine.inbound()
        _ = try state.receive(flags: [.fin], carriesData: false, streamID: 2)
        #expect(throws: MuxError.self) { try state.receive(flags: [], carriesData: true, streamID: 2) }
        #expect(throws: MuxError.self) { try state.receive(flags: [.fin], carriesData: false, streamID: 2) }
    }

    @Test func resetEndsEverything() throws {
        var state = StreamStateMachine.outbound()
        let effect = try state.receive(flags: [.rst], carriesData: false, streamID: 1)
        #expect(effect == .reset)
        #expect(state.isFinished)
        let rst = state.sendRST(), fin = state.sendFIN()
        #expect(!rst)
        #expect(!fin)
    }
}

@Suite struct StreamIDSpaceTests {
    @Test func dialerOpensOddAcceptorEven() {
        var dialer = StreamIDSpace(role: .dialer)
        var acceptor = StreamIDSpace(role: .acceptor)
        let odd = [dialer.allocate(), dialer.allocate()]
        let even = [acceptor.allocate(), acceptor.allocate()]
        #expect(odd == [1, 3])
        #expect(even == [2, 4])
    }

    @Test func acceptsSYNsThatArriveOutOfOrder() throws {
        var ids = StreamIDSpace(role: .acceptor)
        let none: (UInt32) -> Bool = { _ in false }
        let later = try ids.lookup(21, flags: .syn, isLive: none)
        let earlier = try ids.lookup(19, flags: .syn, isLive: { $0 == 21 })
        #expect(later == .opening)
        #expect(earlier == .opening)
        #expect(ids.highestRemoteID == 21)
    }

    @Test func classifiesInboundIDs() throws {
        var ids = StreamIDSpace(role: .acceptor)
        let none: (UInt32) -> Bool = { _ in false }
        let opening = try ids.lookup(1, flags: .syn, isLive: none)
        let live = try ids.lookup(1, flags: [], isLive: { $0 == 1 })
        let finished = try ids.lookup(1, flags: [], isLive: none)
        #expect(opening == .opening)
        #expect(live == .live)
        #expect(finished == .finished)
        #expect(FrameDecoderTests.code { _ = try ids.lookup(3, flags: [], isLive: none) } == .unknownStream)
        #expect(FrameDecoderTests.code { _ = try ids.lookup(2, flags: [], isLive: none) } == .unknownStream)
        #expect(FrameDecoderTests.code { _ = try ids.lookup(2, flags: .syn, isLive: none) } == .wrongStreamParity)
        #expect(FrameDecoderTests.code { _ = try ids.lookup(5, flags: .syn, isLive: { $0 == 5 }) } == .duplicateStream)
    }
}
