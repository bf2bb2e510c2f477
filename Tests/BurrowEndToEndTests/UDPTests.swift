import BurrowClient
import BurrowConfig
import BurrowTestSupport
import NIOCore
import NIOPosix
import Testing

/// UDP proxies in process: flows per visitor address, datagrams whole and in order.
@Suite(.timeLimit(.minutes(1))) struct UDPTests {
    /// Answers every datagram to its sender, unchanged.
    final class UDPEcho: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }
    }

    typealias Visitor = UDPVisitor

    static func echoService(host: String = "127.0.0.1") async throws -> Channel {
        try await DatagramBootstrap(group: InProcessTunnel.group)
            .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: 1 << 20)
            .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelInitializer { $0.pipeline.addHandler(UDPEcho()) }
            .bind(host: host, port: 0).get()
    }

    @Test func everyVisitorGetsItsOwnRepliesWholeAndInOrder() async throws {
        let service = try await Self.echoService()
        let tunnel = try await InProcessTunnel.start(portCount: 1, proxies: [], udp: [("dns", 0, service, UDPFlowSettings())])
        var events = tunnel.events.makeAsyncIterator()
        #expect(await events.next { if case .proxyOpened(name: "dns", _) = $0 { true } else { false } } != nil)
        let port = tunnel.ports[0]

        var visitors: [Visitor] = []
        for _ in 0..<20 { visitors.append(try await Visitor.open(group: InProcessTunnel.group)) }
        for (index, visitor) in visitors.enumerated() {
            for round in 0..<3 { try await visitor.send(ByteBuffer(string: "visitor \(index) round \(round)"), to: port) }
        }
        for (index, visitor) in visitors.enumerated() {
            var inbox = visitor.inbox.makeAsyncIterator()
            for round in 0..<3 {
                #expect(await inbox.next().map { String(buffer: $0) } == "visitor \(index) round \(round)")
            }
        }

        // The largest IPv4 datagram, and an empty one, come back as they went.
        let visitor = visitors[0]
        var inbox = visitor.inbox.makeAsyncIterator()
        let largest = ByteBuffer(bytes: (0..<65_507).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try await visitor.send(largest, to: port)
        #expect(await inbox.next() == largest)
        try await visitor.send(ByteBuffer(), to: port)
        #expect(await inbox.next()?.readableBytes == 0)

        for visitor in visitors { try? await visitor.channel.close() }
        await tunnel.stop()
        try? await service.close()
    }

    @Test func tcpAndUDPOnOnePortAreTwoProxies() async throws {
        let service = try await Self.echoService()
        let tunnel = try await InProcessTunnel.start(portCount: 1, proxies: [("web", 0)], udp: [("dns", 0, service, UDPFlowSettings())])
        var events = tunnel.events.makeAsyncIterator()
        var opened: Set<String> = []
        while opened.count < 2, let event = await events.next() {
            if case .proxyOpened(let name, _) = event { opened.insert(name) }
        }
        #expect(tunnel.client.status.map(\.remotePort) == [tunnel.ports[0], tunnel.ports[0]])
        #expect(try await InProcessTunnel.visit(tunnel.ports[0], "over tcp") == "over tcp")
        let visitor = try await Visitor.open(group: InProcessTunnel.group)
        var inbox = visitor.inbox.makeAsyncIterator()
        try await visitor.send(ByteBuffer(string: "over udp"), to: tunnel.ports[0])
        #expect(await inbox.next().map { String(buffer: $0) } == "over udp")
        try? await visitor.channel.close()
        await tunnel.stop()
        try? await service.close()
    }

    @Test func anIdleFlowClosesAndTheNextDatagramStartsAnother() async throws {
        let service = try await Self.echoService()
        // Short enough to wait for, long enough that the first round trip ends within it even
        // while the rest of the suite loads both cores (at 2 s, one full run lost the echo to
        // the idle sweep: the flow closed before the answer came back, as UDP allows).
        let settings = UDPFlowSettings(idleTimeout: .seconds(5))
        let tunnel = try await InProcessTunnel.start(portCount: 1, proxies: [], udp: [("game", 0, service, settings)])
        var events = tunnel.events.makeAsyncIterator()
        #expect(await events.next { if case .proxyOpened = $0 { true } else { false } } != nil)
        let visitor = try await Visitor.open(group: InProcessTunnel.group)
        var inbox = visitor.inbox.makeAsyncIterator()
        try await visitor.send(ByteBuffer(string: "one"), to: tunnel.ports[0])
        #expect(await inbox.next().map { String(buffer: $0) } == "one")
        #expect(await events.next { if case .flowOpened = $0 { true } else { false } } != nil)
        // Nothing more is sent: the flow idles out, on the server and so on the client.
        #expect(await events.next { if case .flowClosed = $0 { true } else { false } } != nil)
        try await visitor.send(ByteBuffer(string: "two"), to: tunnel.ports[0])
        #expect(await inbox.next().map { String(buffer: $0) } == "two")
        #expect(await events.next { if case .flowOpened = $0 { true } else { false } } != nil)
        try? await visitor.channel.close()
        await tunnel.stop()
        try? await service.close()
    }

    @Test func visitorsBeyondTheCapAreDroppedWhileTheOthersGoOn() async throws {
        let service = try await Self.echoService()
        let tunnel = try await InProcessTunnel.start(portCount: 1, proxies: [], udp: [("voip", 0, service, UDPFlowSettings(maximumFlows: 2))])
        var events = tunnel.events.makeAsyncIterator()
        #expect(await events.next { if case .proxyOpened = $0 { true } else { false } } != nil)
        let port = tunnel.ports[0]
        let first = try await Visitor.open(group: InProcessTunnel.group), second = try await Visitor.open(group: InProcessTunnel.group), third = try await Visitor.open(group: InProcessTunnel.group)
        var firstInbox = first.inbox.makeAsyncIterator(), secondInbox = second.inbox.makeAsyncIterator()
        try await first.send(ByteBuffer(string: "1"), to: port)
        #expect(await firstInbox.next().map { String(buffer: $0) } == "1")
        try await second.send(ByteBuffer(string: "2"), to: port)
        #expect(await secondInbox.next().map { String(buffer: $0) } == "2")
        try await third.send(ByteBuffer(string: "3"), to: port)
        // The server reads one socket in order: once the first visitor's next answer is back,
        // the third visitor's datagram has been seen, and dropped.
        try await first.send(ByteBuffer(string: "1 again"), to: port)
        #expect(await firstInbox.next().map { String(buffer: $0) } == "1 again")
        try await third.channel.close()
        var thirdGot: [ByteBuffer] = []
        for await datagram in third.inbox { thirdGot.append(datagram) }
        #expect(thirdGot.isEmpty)
        try? await first.channel.close()
        try? await second.channel.close()
        await tunnel.stop()
        try? await service.close()
    }

    /// A public UDP port on IPv6: visitors there are flows like any, and a datagram of IPv6's
    /// largest payload (65,527 bytes) comes back whole from a service on IPv6 (an IPv4 service
    /// cannot take more than 65,507).
    @Test func ipv6VisitorsAreFlowsToo() async throws {
        let service = try await Self.echoService(host: "::1")
        let tunnel = try await InProcessTunnel.start(
            portCount: 1, proxies: [], udp: [("dns6", 0, service, UDPFlowSettings())], proxyBindHost: "::1"
        )
        var events = tunnel.events.makeAsyncIterator()
        #expect(await events.next { if case .proxyOpened = $0 { true } else { false } } != nil)
        let visitor = try await Visitor.open(host: "::1", group: InProcessTunnel.group)
        var inbox = visitor.inbox.makeAsyncIterator()
        try await visitor.send(ByteBuffer(string: "over IPv6"), to: tunnel.ports[0], host: "::1")
        #expect(await inbox.next().map { String(buffer: $0) } == "over IPv6")
        guard case .flowOpened(_, let address) = await events.next(where: { if case .flowOpened = $0 { true } else { false } }) else {
            Issue.record("no flow")
            return
        }
        #expect(address.hasPrefix("[::1]:"))
        let largest = ByteBuffer(bytes: (0..<65_527).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try await visitor.send(largest, to: tunnel.ports[0], host: "::1")
        #expect(await inbox.next() == largest)
        try? await visitor.channel.close()
        await tunnel.stop()
        try? await service.close()
    }
}
