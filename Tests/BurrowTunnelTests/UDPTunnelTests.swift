import BurrowTestSupport
import Foundation
import NIOCore
import Testing

/// UDP proxies through the real binaries, with real UDP peers: dnsmasq answering dig, iperf3
/// measuring loss and jitter, and a thousand visitor sockets against one echo socket.
@Suite(.timeLimit(.minutes(2))) struct UDPTunnelTests {
    /// The answer dnsmasq gives for the test's name.
    static let answer = "192.0.2.7"

    /// Starts dnsmasq on 127.0.0.1:`port` answering `burrow.test` with `answer`, and nothing
    /// else (no upstream, no hosts file). It logs "started" once its sockets are bound.
    static func dnsmasq(port: Int) async throws -> PeerProcess {
        let process = try PeerProcess("/usr/sbin/dnsmasq", [
            "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--log-facility=-",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--port=\(port)", "--user=root", "--pid-file=",
            "--address=/burrow.test/\(Self.answer)",
        ], mergeStandardError: true)
        _ = try await process.line(containing: "started, version")
        return process
    }

    /// Asks 127.0.0.1:`port` for burrow.test's A record with dig and returns the answer (+short).
    /// Three tries a second apart: UDP may lose a datagram on a loaded machine, and dig, like
    /// any DNS client, asks again.
    static func dig(port: Int) async throws -> String {
        let dig = try PeerProcess("/usr/bin/dig", [
            "@127.0.0.1", "-p", "\(port)", "burrow.test", "A", "+short", "+tries=3", "+time=1",
        ], mergeStandardError: true)
        let status = await dig.exitStatus()
        let output = dig.lines.joined(separator: "\n")
        guard status == 0 else { throw PeerProcess.Failure(description: "dig exited with \(status): \(output)") }
        return output
    }

    @Test func digGetsDnsmasqsAnswerThroughTheTunnelAndAgainAfterTheClientRestarts() async throws {
        let harness = try await TunnelHarness()
        let ports = try await LoopbackPorts.free(2)
        let dnsmasq = try await Self.dnsmasq(port: ports[0])
        defer { dnsmasq.terminate() }
        let server = try await harness.startServer(ports: [ports[1]])
        defer { server.process.terminate() }
        let proxy = TunnelHarness.Proxy(name: "dns", local: ports[0], type: "udp")
        let client = try harness.startClient(serverPort: server.port, proxies: [proxy])
        let published = try await client.publishedPort()
        #expect(published == ports[1])
        #expect(try await Self.dig(port: published) == Self.answer)

        // A client that comes back publishes its UDP proxy again.
        let before = server.process.lineCount
        client.terminate()
        _ = try await server.process.line(containing: "client lab disconnected", after: before)
        let again = try harness.startClient(serverPort: server.port, proxies: [proxy])
        defer { again.terminate() }
        #expect(try await again.publishedPort() == published)
        #expect(try await Self.dig(port: published) == Self.answer)
    }

    /// iperf3's control connection and its datagrams share a port, so the client publishes a
    /// TCP and a UDP proxy on one server port, both to the iperf3 server.
    @Test func iperf3AtAFixedRateLosesNothing() async throws {
        let harness = try await TunnelHarness()
        let ports = try await LoopbackPorts.free(2)
        let iperf = try PeerProcess("/usr/bin/iperf3", ["-s", "-B", "127.0.0.1", "-p", "\(ports[0])", "-1", "--forceflush"], mergeStandardError: true)
        defer { iperf.terminate() }
        _ = try await iperf.line(containing: "Server listening on \(ports[0])")
        let server = try await harness.startServer(ports: [ports[1]])
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [
            .init(name: "iperf-control", local: ports[0], remote: ports[1]),
            .init(name: "iperf-data", local: ports[0], remote: ports[1], type: "udp"),
        ])
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy iperf-control: ")
        _ = try await client.line(containing: "proxy iperf-data: ")

        // 4 Mbit/s of 1,200-byte datagrams for 3 s: about 1,250 datagrams, well within what
        // this machine carries while the rest of the suite runs (browsers and Prometheus
        // included). iperf3's own sockets get 2 MiB buffers (-w), as Burrow's have, so a peer that
        // is briefly off the CPU loses nothing; a flow's stream holds half a second of this rate
        // in its window, which is what a starved client may take before datagrams are dropped
        // (at 8 Mbit/s a full parallel run once lost 18% here).
        let run = try PeerProcess("/usr/bin/iperf3", [
            "-c", "127.0.0.1", "-p", "\(ports[1])", "-u", "-b", "4M", "-l", "1200", "-t", "3", "-w", "2M", "--json",
        ], mergeStandardError: true)
        #expect(await run.exitStatus() == 0, "\(run.lines.joined(separator: "\n"))")
        let report = try JSONSerialization.jsonObject(with: Data(run.lines.joined(separator: "\n").utf8)) as? [String: Any]
        let sum = try #require((report?["end"] as? [String: Any])?["sum"] as? [String: Any], "no summary in \(run.lines)")
        let packets = try #require(sum["packets"] as? Int)
        #expect(packets > 1_000)
        #expect(sum["lost_packets"] as? Int == 0, "\(sum)\nserver:\n\(server.process.lines.suffix(5).joined(separator: "\n"))")
        #expect(sum["jitter_ms"] is Double)
    }

    @Test func aThousandVisitorsEachGetTheirOwnRepliesAndTheLargestDatagramComesBackWhole() async throws {
        let tunnel = try await UDPEchoTunnel.start(proxy: "echo")
        defer { tunnel.stop() }
        let port = tunnel.port

        var visitors: [UDPVisitor] = []
        for _ in 0..<1_000 { visitors.append(try await UDPVisitor.open()) }
        var inboxes = visitors.map { $0.inbox.makeAsyncIterator() }
        // All thousand flows stay open throughout; datagrams go out a hundred at a time, so
        // that no socket buffer on the way overflows (UDP would be right to drop then).
        for round in 0..<2 {
            for batch in stride(from: 0, to: visitors.count, by: 100) {
                for index in batch..<batch + 100 {
                    try await visitors[index].send(ByteBuffer(string: "visitor \(index) round \(round)"), to: port)
                }
                for index in batch..<batch + 100 {
                    let reply = await inboxes[index].next().map { String(buffer: $0) }
                    #expect(reply == "visitor \(index) round \(round)")
                }
            }
        }

        let largest = TestBytes.buffer(seed: 12, count: 65_507)
        try await visitors[0].send(largest, to: port)
        #expect(await inboxes[0].next() == largest)
        try await visitors[0].send(ByteBuffer(), to: port)
        #expect(await inboxes[0].next()?.readableBytes == 0)

        // Nobody received anything more: no reply went to the wrong visitor.
        for visitor in visitors { await visitor.close() }
        var strays = 0
        for index in inboxes.indices {
            while await inboxes[index].next() != nil { strays += 1 }
        }
        #expect(strays == 0)
    }
}

extension UDPTunnelTests {
    /// The flow cap and the idle timeout as a user sees them: in the logs of both ends.
    @Test func theFlowCapDropsANewVisitorWithALogLineUntilAnIdleFlowMakesRoom() async throws {
        let tunnel = try await UDPEchoTunnel.start(proxy: "game", settings: "max_flows = 1\nidle_timeout = \"2s\"")
        defer { tunnel.stop() }
        let (server, client, port) = (tunnel.server.process, tunnel.client, tunnel.port)

        let first = try await UDPVisitor.open(), second = try await UDPVisitor.open()
        var firstInbox = first.inbox.makeAsyncIterator(), secondInbox = second.inbox.makeAsyncIterator()
        try await first.send(ByteBuffer(string: "first"), to: port)
        #expect(await firstInbox.next().map { String(buffer: $0) } == "first")
        let firstAddress = "127.0.0.1:\(first.channel.localAddress!.port!)"
        try await second.send(ByteBuffer(string: "second"), to: port)
        let capped = try await server.line(containing: "at its cap of 1 flows")
        #expect(capped.contains("proxy game of client lab: at its cap of 1 flows: new visitor 127.0.0.1:\(second.channel.localAddress!.port!) dropped"))

        // The first flow idles out on the server, and so on the client; then there is room.
        _ = try await server.line(containing: "flow of \(firstAddress) idle for 2.0 s: closed")
        _ = try await client.line(containing: "proxy game: flow of \(firstAddress) closed")
        try await second.send(ByteBuffer(string: "second again"), to: port)
        #expect(await secondInbox.next().map { String(buffer: $0) } == "second again")
        await first.close()
        await second.close()
    }
}

/// `Peers/udp_echo.py` (one UDP socket that sends every datagram back to its sender) published
/// as a UDP proxy through a server and client of its own.
struct UDPEchoTunnel {
    let harness: TunnelHarness
    let echo: PeerProcess
    let server: TunnelHarness.Server
    let client: PeerProcess
    /// The public port.
    let port: Int

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/udp_echo.py").path
    }

    /// `settings`: more keys of the proxy's table, as TOML lines.
    static func start(proxy: String, settings: String = "") async throws -> UDPEchoTunnel {
        let harness = try await TunnelHarness()
        let echo = try PeerProcess("/usr/bin/python3", [Self.script, "127.0.0.1"], mergeStandardError: true)
        let echoPort = try #require(Int(try await echo.line(startingWith: "listening on ").split(separator: " ").last!))
        let server = try await harness.startServer(ports: try await LoopbackPorts.free(1))
        let client = try harness.startClient(
            serverPort: server.port, proxies: [.init(name: proxy, local: echoPort, type: "udp", settings: settings)]
        )
        // A failure here leaves nothing running: each PeerProcess ends its process when freed.
        return UDPEchoTunnel(harness: harness, echo: echo, server: server, client: client, port: try await client.publishedPort())
    }

    func stop() {
        self.client.terminate()
        self.server.process.terminate()
        self.echo.terminate()
    }
}
