import BurrowProtocol
import BurrowTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The tunnel end to end: real `burrow server` and `burrow client` processes, real services and
/// visitors, loopback only, every port from the OS.
@Suite struct TunnelTests {
    @Test func curlFetchesAPageFromPythonHTTPServerThroughTheTunnel() async throws {
        let harness = try await TunnelHarness()
        let content = "served from behind the NAT \(UUID().uuidString)\n"
        _ = try harness.write("hello.txt", content)
        let python = try await PythonHTTPServer.start(directory: harness.directory.path)
        defer { python.process.terminate() }

        let publicPorts = try await TunnelHarness.freePorts(4)
        let server = try await harness.startServer(ports: publicPorts)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [.init(name: "web", local: python.port)])
        defer { client.terminate() }
        let publicPort = try await client.publishedPort()

        let curl = try PeerProcess("/usr/bin/curl", ["-sS", "--max-time", "20", "http://127.0.0.1:\(publicPort)/hello.txt"], mergeStandardError: true)
        #expect(await curl.exitStatus() == 0)
        #expect(curl.lines.joined(separator: "\n") + "\n" == content)
        _ = try await server.process.line(containing: "client lab logged in from 127.0.0.1:")
    }

    // One transport at a time: four at once (4 GiB through debug builds) starve the other
    // tests of CPU long enough to trip their timeouts.
    @Test(.serialized, arguments: TunnelHarness.Transport.allCases)
    func sixtyFourConcurrentVisitorsMoveEightMebibytesEachWayByteExact(_ transport: TunnelHarness.Transport) async throws {
        let harness = try await TunnelHarness(transport: transport)
        let echo = try await EchoService.start()
        let publicPorts = try await TunnelHarness.freePorts(4)
        let server = try await harness.startServer(ports: publicPorts)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [.init(name: "echo", local: echo.port)])
        defer { client.terminate() }
        let publicPort = try await client.publishedPort()

        let size = 8 << 20
        try await withThrowingTaskGroup(of: (Int, String, String, String).self) { group in
            for visitor in 0..<64 {
                group.addTask {
                    let payload = TestBytes.buffer(seed: UInt64(visitor), count: size)
                    let echoed = try await Visitor.exchange(port: publicPort, sending: payload, deadline: 240)
                    let (sent, received) = (sha256(payload), sha256(echoed))
                    return (visitor, sent, received, sent == received ? "" : Self.firstDifference(payload, echoed))
                }
            }
            var finished = 0
            for try await (visitor, sent, received, difference) in group {
                #expect(sent == received, "visitor \(visitor): what came back differs from what was sent: \(difference)")
                finished += 1
            }
            #expect(finished == 64)
        }
        try await echo.channel.close()
    }

    @Test(arguments: TunnelHarness.Transport.allCases)
    func aHalfClosedVisitorStillReceivesTheWholeReply(_ transport: TunnelHarness.Transport) async throws {
        let harness = try await TunnelHarness(transport: transport)
        let reply = TestBytes.buffer(seed: 99, count: 1 << 20)
        // The service answers only once the visitor has finished sending.
        let service = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.pipeline.addHandler(StreamEndpoint(eventLoop: channel.eventLoop, sending: reply, sendAfterEOF: true))
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let publicPorts = try await TunnelHarness.freePorts(4)
        let server = try await harness.startServer(ports: publicPorts)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [.init(name: "reply", local: service.localAddress!.port!)])
        defer { client.terminate() }
        let publicPort = try await client.publishedPort()

        let received = try await Visitor.exchange(port: publicPort, sending: ByteBuffer(string: "request, then EOF"))
        #expect(received.readableBytes == reply.readableBytes)
        #expect(received == reply)
        try await service.close()
    }

    @Test func aWrongTokenIsRefusedAndNoTokenCrossesTheWire() async throws {
        let harness = try await TunnelHarness()
        let publicPorts = try await TunnelHarness.freePorts(4)
        let server = try await harness.startServer(ports: publicPorts)
        defer { server.process.terminate() }
        let relay = try await FaultRelay.start(to: try SocketAddress(ipAddress: "127.0.0.1", port: server.port))

        let wrongToken = "wrong-token-\(UUID().uuidString)"
        let intruder = try harness.startClient(serverPort: relay.port, proxies: [.init(name: "web", local: 1)], name: "intruder", token: wrongToken)
        #expect(await intruder.exitStatus() == 2)
        #expect(intruder.lines.contains { $0.contains("authentication failed at tcp://127.0.0.1:\(relay.port)") })
        _ = try await server.process.line(containing: "authentication failed for client intruder from 127.0.0.1:")

        // A client with the right token logs in through the same relay...
        let echo = try await EchoService.start()
        let good = try harness.startClient(serverPort: relay.port, proxies: [.init(name: "web", local: echo.port)])
        defer { good.terminate() }
        _ = try await good.publishedPort()
        // The intruder's login first, the good client's last (a loaded machine may have made it
        // retry in between).
        let captured = relay.capturedUpstream
        #expect(captured.count >= 2)
        let (intruderBytes, goodBytes) = (try #require(captured.first), try #require(captured.last))
        #expect(intruderBytes.readableBytes > 100 && goodBytes.readableBytes > 100)
        for connection in captured {
            let text = String(decoding: connection.readableBytesView, as: UTF8.self)
            #expect(!text.contains(wrongToken) && !text.contains(harness.token), "a token crossed the wire")
        }

        // ...and replaying its bytes on a new connection does not log in.
        let before = server.process.lineCount
        let replay = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: server.port).get()
        try await replay.writeAndFlush(goodBytes)
        _ = try await server.process.line(containing: "wrong proof for token test (wrong token, or a replayed login)", after: before)
        try await replay.closeFuture.get()
        await relay.close()
        try await echo.channel.close()
    }

    @Test func portsOutsideTheTokenOrInUseAreRefusedAndOtherProxiesKeepWorking() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await TunnelHarness.freePorts(3)
        let (good, busy, forbidden) = (ports[0], ports[1], ports[2])
        // Someone else already listens on `busy`.
        let squatter = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: busy).get()
        let server = try await harness.startServer(ports: [good, busy])
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [
            .init(name: "good", local: echo.port, remote: good),
            .init(name: "forbidden", local: echo.port, remote: forbidden),
            .init(name: "busy", local: echo.port, remote: busy),
        ])
        defer { client.terminate() }

        let refusal = try await client.line(containing: "proxy forbidden rejected by the server")
        #expect(refusal.contains("port \(forbidden) is not allowed for token test (allowed: \(good), \(busy))"))
        let inUse = try await client.line(containing: "proxy busy rejected by the server")
        #expect(inUse.contains("cannot listen on port \(busy)"))
        _ = try await client.line(containing: "is published on server port \(good)")

        let payload = TestBytes.buffer(seed: 7, count: 256 * 1024)
        #expect(try await Visitor.exchange(port: good, sending: payload) == payload)
        try await squatter.close()
        try await echo.channel.close()
    }

    @Test(arguments: TunnelHarness.Transport.allCases)
    func theClientComesBackAfterAServerRestartAndItsPortsCloseWhenItDies(_ transport: TunnelHarness.Transport) async throws {
        let harness = try await TunnelHarness(transport: transport)
        let echo = try await EchoService.start()
        let publicPorts = try await TunnelHarness.freePorts(4)
        let first = try await harness.startServer(ports: publicPorts)
        let client = try harness.startClient(serverPort: first.port, proxies: [.init(name: "echo", local: echo.port)])
        defer { client.terminate() }
        let publicPort = try await client.publishedPort()
        let payload = TestBytes.buffer(seed: 1, count: 64 * 1024)
        #expect(try await Visitor.exchange(port: publicPort, sending: payload) == payload)

        // Stop the server: the client retries, with one line per attempt, until it is back.
        let before = client.lineCount
        first.process.signal(SIGTERM)
        #expect(await first.process.exitStatus() == 0)
        _ = try await client.line(containing: "next attempt in", after: before)
        let second = try await harness.startServer(ports: publicPorts, port: first.port)
        defer { second.process.terminate() }
        let republished = try await client.publishedPort(after: before)
        #expect(try await Visitor.exchange(port: republished, sending: payload) == payload)

        // Kill the client: the server notices and frees its port at once.
        client.signal(SIGKILL)
        _ = try await second.process.line(containing: "client lab disconnected")
        #expect(await Visitor.isRefused(port: republished))
        try await echo.channel.close()
    }

    @Test func anUnreachableLocalServiceResetsTheVisitorPromptlyWithOneLogLine() async throws {
        let harness = try await TunnelHarness()
        let ports = try await TunnelHarness.freePorts(5)
        let (publicPorts, deadLocal) = (Array(ports[..<4]), ports[4])
        let server = try await harness.startServer(ports: publicPorts)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [.init(name: "gone", local: deadLocal)])
        let publicPort = try await client.publishedPort()

        #expect(try await ConnectionProbe.ending(port: publicPort, sending: ByteBuffer(string: "hello?")) == .reset)
        let line = try await client.line(containing: "cannot reach local service")
        #expect(line.contains("client lab: proxy gone: cannot reach local service 127.0.0.1:\(deadLocal) for visitor 127.0.0.1:"))
        #expect(line.contains("connection refused"))

        // A client asked to stop says goodbye and exits cleanly.
        client.signal(SIGTERM)
        #expect(await client.exitStatus() == 0)
    }

    @Test func oneSessionPerClientNameUnlessTheOldOneIsDead() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(4))
        defer { server.process.terminate() }
        let relay = try await FaultRelay.start(to: try SocketAddress(ipAddress: "127.0.0.1", port: server.port))
        let first = try harness.startClient(serverPort: relay.port, proxies: [.init(name: "a", local: echo.port)])
        defer { first.terminate() }
        _ = try await first.publishedPort()

        // While the first session is alive, a second login under the same name is refused.
        let second = try harness.startClient(serverPort: server.port, proxies: [.init(name: "b", local: echo.port)])
        defer { second.terminate() }
        let refused: String
        do {
            refused = try await second.line(containing: "already connected")
        } catch {
            Issue.record("server printed:\n\(server.process.lines.joined(separator: "\n"))")
            throw error
        }
        #expect(refused.contains("client lab is already connected from 127.0.0.1:"))

        // Once the first one's link is dead (it cannot answer the liveness ping), the next
        // attempt replaces it.
        relay.stall()
        _ = try await server.process.line(containing: "did not answer a ping: replaced")
        // The old session's last line says why it ended.
        let replaced = try await server.process.line(containing: "client lab disconnected")
        #expect(replaced.contains("(replaced by a new login from 127.0.0.1:"), "\(replaced)")
        let port = try await second.publishedPort()
        let payload = TestBytes.buffer(seed: 3, count: 64 * 1024)
        #expect(try await Visitor.exchange(port: port, sending: payload) == payload)
        await relay.close()
        try await echo.channel.close()
    }

    @Test func aLinkThatGoesSilentIsDetectedOnBothSides() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let publicPorts = try await TunnelHarness.freePorts(4)
        let server = try await harness.startServer(ports: publicPorts, heartbeat: "300ms")
        defer { server.process.terminate() }
        let relay = try await FaultRelay.start(to: try SocketAddress(ipAddress: "127.0.0.1", port: server.port))
        let client = try harness.startClient(serverPort: relay.port, proxies: [.init(name: "echo", local: echo.port)], heartbeat: "300ms")
        defer { client.terminate() }
        let publicPort = try await client.publishedPort()

        let (serverBefore, clientBefore) = (server.process.lineCount, client.lineCount)
        relay.stall()
        let serverSide = try await server.process.line(containing: "client lab disconnected", after: serverBefore)
        #expect(serverSide.contains("no frames from the peer for 0.9 s"))
        let clientSide = try await client.line(containing: "next attempt in", after: clientBefore)
        #expect(clientSide.contains("no frames from the peer for 0.9 s"))
        // Its port is free for the next login.
        #expect(await Visitor.isRefused(port: publicPort))
        await relay.close()
        try await echo.channel.close()
    }

    @Test func theTunnelPortTurnsAwayStrangersAndKeepsItsClients() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let publicPorts = try await TunnelHarness.freePorts(4)
        // Long enough that a loaded machine still reads the garbage below before it expires
        // (2 s was not, with the other transports' integrity tests running alongside).
        let server = try await harness.startServer(ports: publicPorts, handshakeTimeout: "5s")
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [.init(name: "echo", local: echo.port)])
        defer { client.terminate() }
        let publicPort = try await client.publishedPort()

        // A browser or curl gets a one-line answer saying what this port is.
        let curl = try PeerProcess("/usr/bin/curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(server.port)/"], mergeStandardError: true)
        #expect(await curl.exitStatus() == 0)
        #expect(curl.lines == ["This is a Burrow tunnel port, not a web server: point burrow client here."])
        _ = try await server.process.line(containing: "HTTP request from 127.0.0.1:")

        // A connection that says nothing is dropped after the handshake timeout.
        let (silent, silentPort) = try await Visitor.connect(port: server.port)
        try await silent.closeFuture.get()
        _ = try await server.process.line(containing: "no preamble from 127.0.0.1:\(silentPort) within 5.0 s")

        // Garbage after a valid preamble closes that connection only.
        let (garbage, garbagePort) = try await Visitor.connect(port: server.port)
        var bytes = ByteBuffer(bytes: Preamble.bytes)
        bytes.writeBytes([9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9])
        try await garbage.writeAndFlush(bytes)
        try await garbage.closeFuture.get()
        let line = try await server.process.line(containing: "connection from 127.0.0.1:\(garbagePort) closed before login")
        #expect(line.contains("unsupported yamux version 9"))

        let payload = TestBytes.buffer(seed: 5, count: 128 * 1024)
        #expect(try await Visitor.exchange(port: publicPort, sending: payload) == payload)
        try await echo.channel.close()
    }

    /// Where two buffers part, for a failure message.
    static func firstDifference(_ sent: ByteBuffer, _ received: ByteBuffer) -> String {
        let a = Array(sent.readableBytesView), b = Array(received.readableBytesView)
        guard let index = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) ?? (a.count == b.count ? nil : min(a.count, b.count)) else {
            return "identical"
        }
        return "\(b.count) of \(a.count) bytes came back; first difference at byte \(index)"
    }

    /// The README's first command, over both transports it can show.
    @Test(arguments: ["tcp", "ws"])
    func theDemoShowsAVisitorReachTheService(_ transport: String) async throws {
        let demo = try PeerProcess(TunnelHarness.binary, ["demo", "--transport", transport], mergeStandardError: true)
        #expect(await demo.exitStatus() == 0)
        #expect(demo.lines.contains { $0.contains("Hello from behind the NAT, through Burrow!") })
        #expect(demo.lines.last == "==> the visitor reached the service behind the tunnel: demo passed", "\(demo.lines)")
        #expect(demo.lines.contains { $0.contains("accepts clients at \(transport)://127.0.0.1:") })
    }

    @Test func checkAcceptsTheShippedExamplesAndListsEveryErrorOfABrokenFile() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for example in ["server.toml", "client.toml"] {
            let check = try PeerProcess(TunnelHarness.binary, ["check", root.appendingPathComponent(example).path], mergeStandardError: true)
            #expect(await check.exitStatus() == 0, "\(example): \(check.lines)")
        }
        let harness = try await TunnelHarness()
        let broken = try harness.write("broken.toml", """
            server = "tcp://127.0.0.1:7000"
            token = "long-enough-token"
            name = "lab"
            heartbeat_interval = "soon"
            [[proxies]]
            name = "ssh"
            local = "127.0.0.1:22"
            remote_port = "six"
            [[proxies]]
            name = "web"
            local = "localhost"
            remote_port = 70000
            colour = "blue"
            """)
        let check = try PeerProcess(TunnelHarness.binary, ["check", broken], mergeStandardError: true)
        #expect(await check.exitStatus() == 1)
        let output = check.lines.joined(separator: "\n")
        #expect(output.contains("broken.toml: 5 problems"))
        // Each problem names the line that defines its key.
        #expect(output.contains("broken.toml:4:1: heartbeat_interval: expected a duration such as 10 (seconds)"))
        #expect(output.contains("broken.toml:8:1: proxies[0].remote_port: expected an integer port, got \"six\""))
        #expect(output.contains("broken.toml:11:1: proxies[1].local: expected \"host:port\", \"ws://host[:port]/path\" or \"wss://host[:port]/path\", got \"localhost\""))
        #expect(output.contains("broken.toml:12:1: proxies[1].remote_port: 70000 is not a port (1-65535)"))
        #expect(output.contains("broken.toml:13:1: proxies[1].colour: unknown key"))

        // A syntax error: where, and what was expected there.
        let syntax = try harness.write("syntax.toml", "bind = \"0.0.0.0:7000\"\n[[tokens]]\nname \"home\"\n")
        let syntaxCheck = try PeerProcess(TunnelHarness.binary, ["check", syntax], mergeStandardError: true)
        #expect(await syntaxCheck.exitStatus() == 1)
        #expect(syntaxCheck.lines.first?.hasSuffix("syntax.toml:3:6: expected '=' after key \"name\", found '\"'") == true, "\(syntaxCheck.lines)")

        // A file that cannot be read is named, with the reason; it is not a usage error.
        let absent = harness.directory.appendingPathComponent("missing.toml").path
        let missing = try PeerProcess(TunnelHarness.binary, ["check", absent], mergeStandardError: true)
        #expect(await missing.exitStatus() == 1)
        #expect(missing.lines == ["Error: cannot read \(absent): No such file or directory"])
    }
}

/// python3's http.server on an OS-chosen port, run with the real interpreter so that the PID we
/// end is the server's (python3 here may be a pyenv shim).
struct PythonHTTPServer {
    let process: PeerProcess
    let port: Int

    static func start(directory: String) async throws -> PythonHTTPServer {
        let which = try PeerProcess("/usr/bin/env", ["python3", "-c", "import sys; print(sys.executable)"])
        let interpreter = try await which.line(startingWith: "/")
        let process = try PeerProcess(interpreter, ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", directory], mergeStandardError: true)
        let line = try await process.line(containing: "Serving HTTP on")
        let port = try #require(line.split(separator: " ").drop { $0 != "port" }.dropFirst().first.flatMap { Int($0) })
        return PythonHTTPServer(process: process, port: port)
    }
}
