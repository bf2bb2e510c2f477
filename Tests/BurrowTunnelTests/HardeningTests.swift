import BurrowTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

/// What a public server must survive: aborts that stay aborts, streams and sessions that always
/// end and leave no memory behind, peers that never log in, and a control conversation with a
/// stranger's client (`Peers/stranger.py`, written from docs/protocol.md alone).
@Suite struct HardeningTests {
    // MARK: - Aborts stay aborts

    /// A local service that resets mid-download: the visitor must see a reset, not a clean
    /// end that makes the truncated download look complete.
    @Test func aServiceThatResetsMidDownloadResetsTheVisitor() async throws {
        let harness = try await TunnelHarness()
        let service = try await ProbedService.start(sendThenReset: 1 << 20)
        let (server, client) = try await harness.startTunnel(proxy: "dl", to: service.port)
        defer { server.process.terminate(); client.terminate() }
        let port = try await client.publishedPort()
        do {
            let visitor = try await ConnectionProbe.connect(port: port)
            #expect(try await visitor.ending == .reset)
            #expect(visitor.received <= 1 << 20)
        } catch where ConnectionProbe.isResetBeforeConnecting(error) {
            // The download and its reset came before NIO reported the connect: a reset still.
        }
        try await service.channel.close()
    }

    /// A visitor that resets mid-upload: the local service must see a reset.
    @Test func aVisitorThatResetsMidUploadResetsTheService() async throws {
        let harness = try await TunnelHarness()
        let service = try await ProbedService.start()
        let (server, client) = try await harness.startTunnel(proxy: "up", to: service.port)
        defer { server.process.terminate(); client.terminate() }
        let visitor = try await ConnectionProbe.connect(port: try await client.publishedPort())
        try await visitor.write(TestBytes.buffer(seed: 1, count: 256 * 1024))
        var accepted = service.connections()
        let upload = try #require(await accepted.next())
        try await visitor.abort()
        #expect(try await upload.ending == .reset)
        try await service.channel.close()
    }

    /// A session that dies (here the client is killed, then the server) resets its visitors and
    /// its local connections: nobody sees a clean end of a transfer that was cut.
    @Test func aSessionThatDiesResetsItsVisitorsAndItsServices() async throws {
        let harness = try await TunnelHarness()
        let service = try await ProbedService.start()
        let (server, client) = try await harness.startTunnel(proxy: "up", to: service.port)
        defer { server.process.terminate(); client.terminate() }
        let publicPort = try await client.publishedPort()
        var accepted = service.connections()

        // The client dies: the server resets its visitor.
        let first = try await ConnectionProbe.connect(port: publicPort)
        try await first.write(ByteBuffer(string: "hello"))
        _ = try #require(await accepted.next())
        client.signal(SIGKILL)
        #expect(try await first.ending == .reset)

        // The server dies: a new client's local connection is reset. (How the dead server's
        // own sockets end is the kernel's business.)
        let second = try harness.startClient(serverPort: server.port, proxies: [.init(name: "up", local: service.port)])
        defer { second.terminate() }
        let visitor = try await ConnectionProbe.connect(port: try await second.publishedPort())
        try await visitor.write(ByteBuffer(string: "hello"))
        let local = try #require(await accepted.next())
        server.process.signal(SIGKILL)
        // Seen as a reset in nearly every run; NIO reports a reset it learns of from the
        // socket's error state (EPOLLERR) as a plain close, which happened once in many runs.
        let ending = try await local.ending
        #expect(ending == .reset || ending == .endOfFile, "\(ending)")
        try await service.channel.close()
    }

    /// Visitors that reset while their streams wait for credit (the service does not read) must
    /// be released on both sides: streams, local connections and buffered data. They used to
    /// stay for ever.
    @Test func visitorsThatResetWhileWaitingForCreditAreReleased() async throws {
        let harness = try await TunnelHarness()
        let service = try await ProbedService.start(reads: false)
        let (server, client) = try await harness.startTunnel(proxy: "stuck", to: service.port)
        defer { server.process.terminate(); client.terminate() }
        let publicPort = try await client.publishedPort()
        var accepted = service.connections()
        let count = 20
        var locals: [ConnectionProbe] = []
        for _ in 0..<count {
            let visitor = try await ConnectionProbe.connect(port: publicPort)
            // More than the windows and socket buffers of both hops hold: it stalls for credit.
            visitor.channel.writeAndFlush(TestBytes.buffer(seed: 2, count: 8 << 20), promise: nil)
            locals.append(try #require(await accepted.next()))
            try await visitor.abort()
        }
        let endings = try await withThrowingTaskGroup(of: Ending.self) { group in
            for local in locals { group.addTask { try await local.ending } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // Every local connection is released. (Most see the reset; a service that never reads
        // may learn of it only as its socket's error state, which NIO reports as a plain close:
        // the reset itself is checked by the tests above, with services that read.)
        #expect(!endings.contains { if case .failed = $0 { true } else { false } }, "\(endings)")
        #expect(endings.filter { $0 == .reset }.count > count / 2, "\(endings)")
        // All that is left of each side is its control stream.
        let onlyControl = { (live: [String: Int]) in live["MuxStream"] == 1 }
        let serverLive = try await server.process.liveObjects(once: onlyControl)
        #expect(onlyControl(serverLive), "\(serverLive)")
        let clientLive = try await client.liveObjects(once: onlyControl)
        #expect(onlyControl(clientLive), "\(clientLive)")
        try await service.channel.close()
    }

    // MARK: - Memory

    /// Every kind of session ends and leaves no session, mux or stream behind on the server:
    /// logged in then gone, failed login, challenge read then gone, preamble only, and logged in
    /// with a visitor. (Each used to leak its mux and streams.)
    @Test func sessionsOfEveryKindLeaveNothingBehind() async throws {
        let harness = try await TunnelHarness()
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(4))
        defer { server.process.terminate() }
        for kind in ["preamble", "challenge", "badlogin", "login", "visitor"] {
            let churn = try Stranger.run(server: server.port, token: harness.token, ["churn", kind, "20"])
            _ = try await churn.line(startingWith: "churned \(kind) 20")
        }
        let none = { (live: [String: Int]) in
            ["ServerSession", "MuxSessionHandler", "MuxStream"].allSatisfy { live[$0, default: 0] == 0 }
        }
        let live = try await server.process.liveObjects(once: none)
        #expect(none(live), "\(live)")
    }

    /// Connections that have not logged in are capped per address (and in total): one more is
    /// closed at once with a log line, and places come back as connections leave.
    @Test func connectionsThatHaveNotLoggedInAreCapped() async throws {
        let harness = try await TunnelHarness()
        let server = try await harness.startServer(
            ports: try await TunnelHarness.freePorts(4), extra: "max_pending_logins = 100\nmax_pending_logins_per_address = 2"
        )
        defer { server.process.terminate() }
        // A client that logged in holds no place.
        let client = try harness.startClient(serverPort: server.port, proxies: [])
        defer { client.terminate() }
        _ = try await client.line(containing: "logged in to")
        let (first, _) = try await Visitor.connect(port: server.port)
        let (second, _) = try await Visitor.connect(port: server.port)
        let third = try await ConnectionProbe.connect(port: server.port)
        let thirdPort = third.channel.localAddress!.port!
        #expect(try await third.ending == .endOfFile)
        #expect(third.received == 0)
        let line = try await server.process.line(containing: "refused: 2 connections from 127.0.0.1 have not logged in yet")
        #expect(line.contains("tunnel port: connection from 127.0.0.1:\(thirdPort) refused"), "\(server.process.lines)")
        #expect(line.contains("(max_pending_logins_per_address = 2)"))
        // Places come back as the silent ones leave.
        let before = server.process.lineCount
        try await first.close()
        try await second.close()
        let gone = try await server.process.line(containing: "closed before its preamble", after: before)
        let index = try #require(server.process.lines.firstIndex(of: gone))
        _ = try await server.process.line(containing: "closed before its preamble", after: index + 1)
        let login = try Stranger.run(server: server.port, token: harness.token, ["login"], name: "other")
        _ = try await login.line(startingWith: "loggedIn ")
    }

    // MARK: - The control conversation

    @Test(arguments: [
        (#"{"type":"login","body":{"name":"lab"}}"#, "malformed login: missing field 'body.tokenHint'"),
        (#"{"type":"login","body":{"name":"lab","tokenHint":"x","clientNonce":"x","proof":"x","version":7}}"#,
         "malformed login: field 'body.version' is not a string"),
        (#"{"type":"login","body":{"name":"lab","tokenHint":"x","clientNonce":"c2hvcnQ=","proof":"x","version":"1"}}"#,
         "malformed login: field 'body.clientNonce' must be 32 bytes in base64"),
        (#"{"type":"login","body":{"name":"a b","tokenHint":"x","clientNonce":"x","proof":"x","version":"1"}}"#,
         "malformed login: field 'body.name' must be 1-64 letters"),
        ("not json", "malformed login: not JSON"),
        (#"{"type":"openProxy","body":{"name":"x","type":"tcp"}}"#, "expected a login message first, got openProxy"),
    ])
    func aMalformedLoginIsAnsweredWithBadRequestNamingTheField(_ login: String, _ answer: String) async throws {
        let harness = try await TunnelHarness()
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(1))
        defer { server.process.terminate() }
        let stranger = try Stranger.run(server: server.port, token: harness.token, ["rawlogin"], input: login + "\n")
        let line = try await stranger.line(startingWith: "loginError ")
        #expect(line.hasPrefix("loginError badRequest \(answer)"), "\(line)")
        _ = try await server.process.line(containing: "sent ")
    }

    /// After login: an unknown message is skipped with a log line, `closeProxy` is answered,
    /// and a malformed message ends the session with GoAway(protocol error) and a log line.
    @Test func unknownMessagesAreSkippedAndMalformedOnesEndTheSession() async throws {
        let harness = try await TunnelHarness()
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(4))
        defer { server.process.terminate() }
        let stranger = try Stranger.run(server: server.port, token: harness.token, ["session"])
        _ = try await stranger.line(startingWith: "loggedIn ")
        try stranger.send(#"raw {"type":"status","body":{"from":"a newer client"}}"#)
        _ = try await server.process.line(containing: #"client lab sent a message this build does not know (unknown message type "status"): ignored"#)
        try stranger.send("open web")
        let opened = try await stranger.line(startingWith: "proxyOpened web ")
        try stranger.send("close web")
        let closed = try await stranger.line(startingWith: "proxyClosed web ")
        #expect(opened.split(separator: " ").last == closed.split(separator: " ").last)
        try stranger.send("close nothing")
        _ = try await stranger.line(startingWith: "proxyClosed nothing none")
        try stranger.send(#"raw {"type":"openProxy","body":{"name":7,"type":"tcp"}}"#)
        _ = try await stranger.line(startingWith: "goAway 1")
        _ = try await stranger.line(startingWith: "closed")
        let line = try await server.process.line(containing: "client lab disconnected (malformed control message")
        #expect(line.contains("field 'body.name' is not a string"))
    }

    /// A client that sends GoAway is leaving: its ports close at once, its open visitors finish,
    /// and then the server closes the session (it used to stay open for ever).
    @Test func aClientsGoAwayClosesItsSessionOnceItsVisitorsAreDone() async throws {
        let harness = try await TunnelHarness()
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(4))
        defer { server.process.terminate() }
        let stranger = try Stranger.run(server: server.port, token: harness.token, ["session"])
        _ = try await stranger.line(startingWith: "loggedIn ")
        try stranger.send("open echo")
        let port = try #require(Int(try await stranger.line(startingWith: "proxyOpened echo ").split(separator: " ").last!))
        let visitor = try await ConnectionProbe.connect(port: port, target: 5)
        try await visitor.write(ByteBuffer(string: "hello"))
        try await visitor.reached()
        try stranger.send("goaway")
        _ = try await stranger.line(startingWith: "goAway 0")
        let going = try await server.process.line(containing: "is going away:")
        #expect(going.contains("is going away: closed port \(port); open visitors finish"))
        // Its port is closed at once, while its open visitor still talks to the service...
        #expect(await Visitor.isRefused(port: port))
        try await visitor.write(ByteBuffer(string: "more"))
        try await visitor.channel.close(mode: .output)
        #expect(try await visitor.ending == .endOfFile)
        #expect(visitor.received == 9)
        // ...and once it is done the server closes the session.
        _ = try await stranger.line(startingWith: "closed")
        let line = try await server.process.line(containing: "client lab disconnected")
        #expect(line.contains("(client went away)"))
    }

    /// A port that is busy when the client asks for it is asked for again on the client's
    /// backoff while the session lives, not only at the next reconnect.
    @Test func aBusyPortIsAskedForAgainWhileTheSessionLives() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        // The server picks the holder's port among several free ones (a single port the OS
        // handed out and took back may be taken by anyone before the server binds it).
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(4))
        defer { server.process.terminate() }
        let holder = try Stranger.run(server: server.port, token: harness.token, ["session"], name: "holder")
        _ = try await holder.line(startingWith: "loggedIn ")
        try holder.send("open squat")
        let held = try #require(Int(try await holder.line(startingWith: "proxyOpened squat ").split(separator: " ").last!))
        let ports = [held]
        let client = try harness.startClient(serverPort: server.port, proxies: [.init(name: "web", local: echo.port, remote: ports[0])])
        defer { client.terminate() }
        let rejected = try await client.line(containing: "proxy web rejected by the server")
        #expect(rejected.contains("is in use by proxy squat of client holder; asking again in"))
        try holder.send("close squat")
        #expect(try await client.publishedPort() == ports[0])
        #expect(!client.lines.contains { $0.contains("next attempt in") }, "the session was not restarted")
        let payload = TestBytes.buffer(seed: 4, count: 4096)
        #expect(try await Visitor.exchange(port: ports[0], sending: payload) == payload)
        try await echo.channel.close()
    }
}

/// `Peers/stranger.py`: a Burrow client written from docs/protocol.md alone.
enum Stranger {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/stranger.py").path
    }

    static func run(server port: Int, token: String, _ arguments: [String], name: String = "lab", input: String? = nil) throws -> PeerProcess {
        let process = try PeerProcess("/usr/bin/python3", [Self.script, "127.0.0.1:\(port)", token, name] + arguments, mergeStandardError: true, input: true)
        if let input { try process.send(input, newline: false) }
        return process
    }
}

extension PeerProcess {
    /// The process's live-object counts: SIGUSR1 asks, a log line answers.
    func liveObjects() async throws -> [String: Int] {
        let before = self.lineCount
        self.signal(SIGUSR1)
        let line = try await self.line(containing: "live objects:", after: before)
        var counts: [String: Int] = [:]
        for pair in line.components(separatedBy: "live objects:").last!.split(separator: " ") {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let count = Int(parts[1]) { counts[String(parts[0])] = count }
        }
        return counts
    }

    /// The live-object counts once `expected` holds for them, or the last ones after 10 s.
    /// Objects are freed a moment after the connections that held them close, so this asks
    /// again on each answer (each is a round trip to the process, no sleep); the caller then
    /// asserts what it expected, so a leak fails with the counts in the message.
    func liveObjects(once expected: ([String: Int]) -> Bool) async throws -> [String: Int] {
        let deadline = ContinuousClock.now + .seconds(10)
        var counts = try await self.liveObjects()
        while !expected(counts), ContinuousClock.now < deadline {
            counts = try await self.liveObjects()
        }
        return counts
    }
}
