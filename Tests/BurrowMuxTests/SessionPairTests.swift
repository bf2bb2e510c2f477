import BurrowMux
import BurrowTestSupport
import NIOCore
import NIOEmbedded
import Testing

/// Two sessions back to back in memory: every byte both ways, flow control, half-close, reset,
/// GoAway. One event loop, no sockets, no time.
@Suite struct SessionPairTests {
    /// The endpoints of every stream, by side and stream id.
    final class Endpoints: @unchecked Sendable {
        var bySide: [String: [UInt32: StreamEndpoint]] = ["dialer": [:], "acceptor": [:]]
        let size: Int
        init(size: Int) { self.size = size }

        static func seed(_ side: String, _ id: UInt32) -> UInt64 { UInt64(id) * 2 + (side == "dialer" ? 0 : 1) }

        /// An initializer that installs an endpoint sending `size` seeded bytes and half-closing.
        func initializer(side: String, configure: @escaping @Sendable (Channel) throws -> Void = { _ in }) -> MuxSessionHandler.StreamInitializer {
            { channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = try channel.syncOptions!.getOption(MuxStreamOptions.streamID)
                    try channel.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    try configure(channel)
                    let endpoint = StreamEndpoint(eventLoop: channel.eventLoop, sending: TestBytes.buffer(seed: Self.seed(side, id), count: self.size))
                    self.bySide[side]![id] = endpoint
                    try channel.pipeline.syncOperations.addHandler(endpoint)
                }
            }
        }

        /// Asserts every stream received exactly what the other side sent, then EOF.
        func expectAllDelivered(sourceLocation: SourceLocation = #_sourceLocation) {
            for (side, other) in [("dialer", "acceptor"), ("acceptor", "dialer")] {
                for (id, endpoint) in self.bySide[side]! {
                    #expect(endpoint.sawEOF, "\(side) stream \(id) saw no EOF", sourceLocation: sourceLocation)
                    #expect(
                        endpoint.received == TestBytes.buffer(seed: Self.seed(other, id), count: self.size),
                        "\(side) stream \(id) got \(endpoint.received.readableBytes) bytes", sourceLocation: sourceLocation
                    )
                }
            }
        }
    }

    @Test func hundredStreamsFromBothSidesMoveOneMebibyteEachWayByteExact() throws {
        let endpoints = Endpoints(size: 1 << 20)
        let pair = try InMemorySessionPair(
            dialerInbound: endpoints.initializer(side: "dialer"),
            acceptorInbound: endpoints.initializer(side: "acceptor")
        )
        for _ in 0..<50 {
            _ = pair.dialerSession.openStream(initializer: endpoints.initializer(side: "dialer"))
            _ = pair.acceptorSession.openStream(initializer: endpoints.initializer(side: "acceptor"))
        }
        try pair.interact()
        #expect(endpoints.bySide["dialer"]!.count == 100)
        #expect(endpoints.bySide["acceptor"]!.count == 100)
        #expect(Set(endpoints.bySide["dialer"]!.keys.filter { $0 % 2 == 1 }).count == 50)
        endpoints.expectAllDelivered()
        // Both directions finished on every stream: the sessions forget them.
        #expect(pair.dialerSession.streamCount == 0)
        #expect(pair.acceptorSession.streamCount == 0)
    }

    @Test func aBurstOfStreamsLeavesNoLargeTableBehind() throws {
        let endpoints = Endpoints(size: 1)
        let pair = try InMemorySessionPair(dialerInbound: nil, acceptorInbound: endpoints.initializer(side: "acceptor"))
        for _ in 0..<1000 {
            _ = pair.dialerSession.openStream(initializer: endpoints.initializer(side: "dialer"))
        }
        try pair.interact()
        #expect(endpoints.bySide["acceptor"]!.count == 1000)
        endpoints.expectAllDelivered()
        #expect(pair.dialerSession.streamCount == 0)
        #expect(pair.acceptorSession.streamCount == 0)
        // The table grew to hold 1,000; empty again, it holds room for a few hundred at most.
        #expect(pair.dialerSession.streamTableCapacity <= 2 * 256)
        #expect(pair.acceptorSession.streamTableCapacity <= 2 * 256)
    }

    @Test func aStalledReaderNeitherSlowsOthersNorBuffersBeyondItsWindow() throws {
        let endpoints = Endpoints(size: 4 << 20)
        let stalled = Endpoints(size: 4 << 20)
        let pair = try InMemorySessionPair(
            dialerInbound: nil,
            acceptorInbound: { channel in
                let id = try! channel.syncOptions!.getOption(MuxStreamOptions.streamID)
                if id == 1 {
                    // The first stream's reader never reads.
                    return stalled.initializer(side: "acceptor") { try $0.syncOptions!.setOption(ChannelOptions.autoRead, value: false) }(channel)
                }
                return endpoints.initializer(side: "acceptor")(channel)
            }
        )
        var stalledChannel: Channel?
        pair.dialerSession.openStream(initializer: stalled.initializer(side: "dialer")).whenSuccess { stalledChannel = $0 }
        for _ in 0..<8 { _ = pair.dialerSession.openStream(initializer: endpoints.initializer(side: "dialer")) }
        try pair.interact()

        endpoints.expectAllDelivered()
        let stalledReceiver = try #require(stalled.bySide["acceptor"]![1])
        #expect(stalledReceiver.received.readableBytes == 0)
        // What waits for the stalled reader is bounded by its window.
        let buffered = try Self.acceptorChannel(pair, id: 1).syncOptions!.getOption(MuxStreamOptions.bufferedInboundBytes)
        #expect(buffered == Int(ReceiveWindow.initial))
        #expect(!(stalledChannel?.isWritable ?? true), "the sender must see backpressure")

        // Once it reads, everything arrives.
        try Self.acceptorChannel(pair, id: 1).syncOptions!.setOption(ChannelOptions.autoRead, value: true)
        try pair.interact()
        #expect(stalledReceiver.received == TestBytes.buffer(seed: Endpoints.seed("dialer", 1), count: 4 << 20))
    }

    @Test func halfCloseKeepsTheOtherDirectionWorkingToTheEnd() throws {
        let size = 1 << 20
        let collector = Endpoints(size: size)
        let pair = try InMemorySessionPair(
            dialerInbound: nil,
            acceptorInbound: { channel in
                // The acceptor answers only after the dialer has finished sending.
                channel.eventLoop.makeCompletedFuture {
                    try channel.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    let endpoint = StreamEndpoint(
                        eventLoop: channel.eventLoop, sending: TestBytes.buffer(seed: 2, count: size), sendAfterEOF: true
                    )
                    collector.bySide["acceptor"]![1] = endpoint
                    try channel.pipeline.syncOperations.addHandler(endpoint)
                }
            }
        )
        _ = pair.dialerSession.openStream(initializer: collector.initializer(side: "dialer"))
        try pair.interact()
        let dialer = try #require(collector.bySide["dialer"]![1])
        let acceptor = try #require(collector.bySide["acceptor"]![1])
        #expect(acceptor.sawEOF)
        #expect(acceptor.received == TestBytes.buffer(seed: Endpoints.seed("dialer", 1), count: size))
        #expect(dialer.sawEOF)
        #expect(dialer.received == TestBytes.buffer(seed: 2, count: size))
        #expect(pair.dialerSession.streamCount == 0)
    }

    @Test func resetOfOneStreamLeavesTheOthersUntouched() throws {
        let endpoints = Endpoints(size: 1 << 20)
        let victim = Endpoints(size: 1 << 20)
        let pair = try InMemorySessionPair(
            dialerInbound: nil,
            acceptorInbound: { channel in
                let id = try! channel.syncOptions!.getOption(MuxStreamOptions.streamID)
                return (id == 5 ? victim : endpoints).initializer(side: "acceptor")(channel)
            }
        )
        var victimChannel: Channel?
        for index in 0..<6 {
            let target = index == 2 ? victim : endpoints
            pair.dialerSession.openStream(initializer: target.initializer(side: "dialer")).whenSuccess {
                if index == 2 { victimChannel = $0 }
            }
        }
        pair.loop.run()
        let channel = try #require(victimChannel)
        channel.triggerUserOutboundEvent(MuxStreamResetEvent(), promise: nil)
        try pair.interact()

        endpoints.expectAllDelivered()
        let peer = try #require(victim.bySide["acceptor"]![5])
        #expect(peer.errors.contains { ($0 as? MuxError)?.code == .streamReset })
        #expect(!peer.sawEOF)
        #expect(pair.dialerSession.streamCount == 0)
        #expect(pair.acceptorSession.streamCount == 0)
        #expect(pair.dialer.isActive && pair.acceptor.isActive)
    }

    @Test func goAwayLetsOpenStreamsFinishAndRefusesNewOnes() throws {
        let endpoints = Endpoints(size: 1 << 20)
        let pair = try InMemorySessionPair(
            dialerInbound: endpoints.initializer(side: "dialer"),
            acceptorInbound: endpoints.initializer(side: "acceptor")
        )
        for _ in 0..<4 { _ = pair.dialerSession.openStream(initializer: endpoints.initializer(side: "dialer")) }
        // The streams are open on both sides (and some data crossed) when the acceptor says GoAway.
        try pair.step()
        pair.acceptorSession.goAway()
        var refusedLocally: Error?
        pair.acceptorSession.openStream().whenFailure { refusedLocally = $0 }
        try pair.interact()

        endpoints.expectAllDelivered()
        #expect((refusedLocally as? MuxError)?.code == .goAwayReceived)
        var refusedRemotely: Error?
        pair.dialerSession.openStream().whenFailure { refusedRemotely = $0 }
        try pair.interact()
        #expect((refusedRemotely as? MuxError)?.code == .goAwayReceived)
        // With every stream done, the side that went away closes its connection.
        #expect(!pair.acceptor.isActive)
    }

    private static func acceptorChannel(_ pair: InMemorySessionPair, id: UInt32) throws -> Channel {
        try #require(pair.acceptorSession.stream(id))
    }
}
