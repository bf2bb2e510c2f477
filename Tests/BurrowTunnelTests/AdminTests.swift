import BurrowTestSupport
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The admin API and SIGHUP on the real binary: reload applies exactly the file's changes, a
/// broken file changes nothing, and the API wants its token. curl is the API's client here,
/// `burrow reload` and `burrow status` too.
@Suite(.timeLimit(.minutes(2))) struct AdminTests {
    static let adminToken = "admin-token-for-tests"

    /// The server's config with `tokens` (TOML [[tokens]] tables) and an admin API on `admin`.
    static func serverConfig(admin: Int, tokens: String) -> String {
        """
        bind = "127.0.0.1:0"
        [admin]
        bind = "127.0.0.1:\(admin)"
        token = "\(Self.adminToken)"
        \(tokens)
        """
    }

    static func token(_ name: String, _ secret: String, ports: [Int]) -> String {
        "[[tokens]]\nname = \"\(name)\"\ntoken = \"\(secret)\"\nports = [\(ports.map(String.init).joined(separator: ", "))]\n"
    }

    /// curl against the admin API: the status code, then the body.
    static func curl(_ method: String, _ port: Int, _ path: String, token: String? = Self.adminToken, body: String? = nil) async throws -> [String] {
        var arguments = ["-sS", "-X", method, "-w", "\n%{http_code}\n", "--max-time", "10"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let body { arguments += ["--data-binary", body] }
        let curl = try PeerProcess("/usr/bin/curl", arguments + ["http://127.0.0.1:\(port)\(path)"], mergeStandardError: true)
        #expect(await curl.exitStatus() == 0, "\(curl.lines)")
        let lines = curl.lines
        return [lines.last ?? ""] + lines.dropLast()
    }

    /// Tokens come and go on a running server, through the API and through SIGHUP; a broken
    /// file changes nothing; a visitor connection through an unaffected proxy lives through it
    /// all; the API refuses requests without the right token.
    @Test func aServerReloadsItsTokensWithoutDisturbingOtherClients() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(3)
        let admin = ports[2]
        let first = Self.token("test", harness.token, ports: [ports[0]])
        let second = Self.token("second", "second-token-secret", ports: [ports[1]])
        let file = try harness.write("server.toml", Self.serverConfig(admin: admin, tokens: first))
        let server = try PeerProcess(TunnelHarness.binary, ["server", "-c", file, "--log-level", "debug"], mergeStandardError: true)
        defer { server.terminate() }
        let listening = try await server.line(containing: "listening for clients on")
        let serverPort = try #require(Int(listening.split(separator: ":").last!.split(separator: " ").first!))
        _ = try await server.line(containing: "admin API on http://127.0.0.1:\(admin) (bearer token required)")

        let lab = try harness.startClient(serverPort: serverPort, proxies: [.init(name: "web", local: echo.port, remote: ports[0])])
        defer { lab.terminate() }
        _ = try await lab.line(containing: "proxy web: ")
        // A visitor that stays connected through every reload below.
        let held = try await HeldVisitor.connect(port: ports[0])
        #expect(try await held.echo("before") == "before")

        // The token is required, and checked.
        #expect(try await Self.curl("GET", admin, "/status", token: nil).first == "401")
        #expect(try await Self.curl("GET", admin, "/status", token: "wrong-token-of-same").first == "401")
        let status = try await Self.curl("GET", admin, "/status")
        #expect(status.first == "200", "\(status)")
        #expect(status.contains { $0.contains("\"client\" : \"lab\"") }, "\(status)")
        #expect(status.contains { $0.contains("\"port\" : \(ports[0])") }, "\(status)")
        #expect(status.contains { $0.contains("\"transport\" : \"tcp\"") }, "\(status)")
        #expect(status.contains { $0.contains("\"visitors\" : 1") }, "\(status)")
        #expect(status.contains { $0.contains("\"roundTripMicroseconds\" : ") }, "\(status)")

        // A second token, through `burrow reload`.
        try String(Self.serverConfig(admin: admin, tokens: first + second)).write(toFile: file, atomically: true, encoding: .utf8)
        let reload = try PeerProcess(TunnelHarness.binary, ["reload", "-c", file], mergeStandardError: true)
        #expect(await reload.exitStatus() == 0, "\(reload.lines)")
        #expect(reload.lines.contains { $0.contains("\"added\" : [") }, "\(reload.lines)")
        #expect(reload.lines.contains("    \"second\""), "\(reload.lines)")
        let now = try await Self.curl("GET", admin, "/now")
        #expect(now.first == "200", "\(now)")
        #expect(now.contains("name = \"second\"") && now.contains("token = \"<redacted>\""), "\(now)")
        #expect(!now.contains { $0.contains("second-token-secret") || $0.contains(Self.adminToken) }, "\(now)")
        let json = try await Self.curl("GET", admin, "/now?format=json")
        #expect(json.contains { $0.contains("\"ports\" : [") }, "\(json)")
        let other = try harness.startClient(
            serverPort: serverPort, proxies: [.init(name: "other", local: echo.port, remote: ports[1])], name: "other", token: "second-token-secret"
        )
        defer { other.terminate() }
        _ = try await other.line(containing: "proxy other: ")
        #expect(try await Visitor.exchange(port: ports[1], sending: ByteBuffer(string: "through the new token")) == ByteBuffer(string: "through the new token"))

        // A broken file: nothing changes, and the answer says why.
        try "bind = \"127.0.0.1:0\"\n[[tokens]]\nname = 5\n".write(toFile: file, atomically: true, encoding: .utf8)
        let broken = try PeerProcess(TunnelHarness.binary, ["reload", "-c", file], mergeStandardError: true)
        #expect(await broken.exitStatus() == 1)
        let viaAPI = try await Self.curl("POST", admin, "/reload", body: "bind = \"127.0.0.1:0\"\n[[tokens]]\nname = 5\n")
        #expect(viaAPI.first == "422", "\(viaAPI)")
        #expect(viaAPI.contains { $0.contains("tokens[0].name") }, "\(viaAPI)")
        #expect(try await held.echo("after a broken reload") == "after a broken reload")

        // The second token removed, by SIGHUP: its client's session ends, the first goes on.
        try String(Self.serverConfig(admin: admin, tokens: first)).write(toFile: file, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        _ = try await server.line(containing: "reloaded: removed second")
        _ = try await server.line(containing: "token second was revoked: session closed")
        #expect(try await held.echo("after SIGHUP") == "after SIGHUP")

        // POST /stop stops it as SIGTERM does.
        #expect(try await Self.curl("POST", admin, "/stop").first == "200")
        #expect(await server.exitStatus() == 0)
        try await echo.channel.close()
    }

    /// A client's proxies come and go by SIGHUP and /reload while a visitor of an unchanged
    /// proxy stays connected; `burrow status` lists them.
    @Test func aClientReloadsItsProxiesAndKeepsTheOthersVisitors() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(3)
        let admin = ports[2]
        let server = try await harness.startServer(ports: [ports[0], ports[1]])
        defer { server.process.terminate() }
        func clientConfig(_ proxies: [(String, Int)]) -> String {
            """
            server = "tcp://127.0.0.1:\(server.port)"
            token = "\(harness.token)"
            name = "lab"
            [admin]
            bind = "127.0.0.1:\(admin)"
            \(proxies.map { "[[proxies]]\nname = \"\($0.0)\"\nlocal = \"127.0.0.1:\(echo.port)\"\nremote_port = \($0.1)\n" }.joined())
            """
        }
        let file = try harness.write("client.toml", clientConfig([("web", ports[0])]))
        let client = try PeerProcess(TunnelHarness.binary, ["client", "-c", file, "--log-level", "debug"], mergeStandardError: true)
        defer { client.terminate() }
        _ = try await client.line(containing: "admin API on http://127.0.0.1:\(admin) (no token: loopback only)")
        _ = try await client.line(containing: "proxy web: ")
        let held = try await HeldVisitor.connect(port: ports[0])
        #expect(try await held.echo("before") == "before")

        try clientConfig([("web", ports[0]), ("more", ports[1])]).write(toFile: file, atomically: true, encoding: .utf8)
        client.signal(SIGHUP)
        _ = try await client.line(containing: "reloaded: added more")
        _ = try await client.line(containing: "proxy more: ")
        #expect(try await Visitor.exchange(port: ports[1], sending: ByteBuffer(string: "more")) == ByteBuffer(string: "more"))
        let status = try PeerProcess(TunnelHarness.binary, ["status", "-c", file], mergeStandardError: true)
        #expect(await status.exitStatus() == 0, "\(status.lines)")
        #expect(status.lines.contains { $0.contains("\"remotePort\" : \(ports[1])") }, "\(status.lines)")

        // Removed through the API with the TOML in the body: its port closes on the server.
        let removed = try await Self.curl("POST", admin, "/reload", token: nil, body: clientConfig([("web", ports[0])]))
        #expect(removed.first == "200", "\(removed)")
        _ = try await server.process.line(containing: "proxy more of client lab: closed port \(ports[1])")
        await #expect(throws: (any Error).self) { try await Visitor.exchange(port: ports[1], sending: ByteBuffer(string: "anyone?")) }
        #expect(try await held.echo("after both reloads") == "after both reloads")
        try await echo.channel.close()
    }

}

extension AdminTests {
    /// 256 MiB through an unaffected proxy, SHA-256 checked, while the server reloads 20 times
    /// (a token added and removed) and the client 20 times (a proxy added and removed): no byte
    /// lost, no reconnect.
    @Test(.timeLimit(.minutes(3))) func aLongTransferRunsAcrossFortyReloads() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(4)
        let (serverAdmin, clientAdmin) = (ports[2], ports[3])
        let first = Self.token("test", harness.token, ports: [ports[0], ports[1]])
        let extra = Self.token("extra", "extra-token-secret", ports: [ports[1]])
        let serverFile = try harness.write("server.toml", Self.serverConfig(admin: serverAdmin, tokens: first))
        let server = try PeerProcess(TunnelHarness.binary, ["server", "-c", serverFile], mergeStandardError: true)
        defer { server.terminate() }
        let listening = try await server.line(containing: "listening for clients on")
        let serverPort = try #require(Int(listening.split(separator: ":").last!.split(separator: " ").first!))
        func clientConfig(extraProxy: Bool) -> String {
            """
            server = "tcp://127.0.0.1:\(serverPort)"
            token = "\(harness.token)"
            name = "lab"
            [admin]
            bind = "127.0.0.1:\(clientAdmin)"
            [[proxies]]
            name = "bulk"
            local = "127.0.0.1:\(echo.port)"
            remote_port = \(ports[0])
            \(extraProxy ? "[[proxies]]\nname = \"extra\"\nlocal = \"127.0.0.1:\(echo.port)\"\nremote_port = \(ports[1])" : "")
            """
        }
        let clientFile = try harness.write("client.toml", clientConfig(extraProxy: false))
        let client = try PeerProcess(TunnelHarness.binary, ["client", "-c", clientFile], mergeStandardError: true)
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy bulk: ")

        let total = 256 << 20, chunk = 1 << 20
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let (sent, received, count) = try await Self.streamThroughEcho(port: ports[0], total: total, chunk: chunk)
                #expect(count == total)
                #expect(sent == received)
            }
            group.addTask {
                for round in 0..<20 {
                    let tokens = round % 2 == 0 ? first + extra : first
                    let serverAnswer = try await Self.curl("POST", serverAdmin, "/reload", body: Self.serverConfig(admin: serverAdmin, tokens: tokens))
                    #expect(serverAnswer.first == "200", "\(serverAnswer)")
                    let clientAnswer = try await Self.curl("POST", clientAdmin, "/reload", token: nil, body: clientConfig(extraProxy: round % 2 == 0))
                    #expect(clientAnswer.first == "200", "\(clientAnswer)")
                }
            }
            try await group.waitForAll()
        }
        // One session all along: the client never had to come back.
        #expect(!client.lines.contains { $0.contains("next attempt in") }, "\(client.lines.filter { $0.contains("attempt") })")
        #expect(client.lines.filter { $0.contains("reloaded:") }.count == 20)
        #expect(server.lines.filter { $0.contains("reloaded:") }.count == 20)
        try await echo.channel.close()
    }

    /// A renewed certificate is read on reload: clients that trust the new one get in, the
    /// session on the old one goes on; a key that does not load changes nothing, not even the
    /// token added in the same file.
    @Test func aReloadReadsARenewedCertificateAndABrokenOneChangesNothing() async throws {
        let harness = try await TunnelHarness()
        let (old, renewed) = (harness.directory.appendingPathComponent("old"), harness.directory.appendingPathComponent("renewed"))
        for directory in [old, renewed] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        let (first, second) = (try await TestCertificates.make(in: old), try await TestCertificates.make(in: renewed))
        let (liveCertificate, liveKey) = (harness.directory.appendingPathComponent("live.crt").path, harness.directory.appendingPathComponent("live.key").path)
        func install(_ certificates: TestCertificates) throws {
            for (from, to) in [(certificates.serverCertificate, liveCertificate), (certificates.serverKey, liveKey)] {
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
        }
        try install(first)
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(3)
        let admin = ports[2]
        let tokens = Self.token("test", harness.token, ports: [ports[0], ports[1]])
        func config(_ tokens: String) -> String {
            Self.serverConfig(admin: admin, tokens: "[tls]\ncert = \"\(liveCertificate)\"\nkey = \"\(liveKey)\"\n" + tokens)
        }
        let file = try harness.write("server.toml", config(tokens))
        let server = try PeerProcess(TunnelHarness.binary, ["server", "-c", file], mergeStandardError: true)
        defer { server.terminate() }
        let listening = try await server.line(containing: "listening for clients on")
        let serverPort = try #require(Int(listening.split(separator: ":").last!.split(separator: " ").first!))
        func client(_ name: String, trusting certificates: TestCertificates, port: Int) throws -> PeerProcess {
            try harness.startClient(
                serverPort: serverPort, proxies: [.init(name: name, local: echo.port, remote: port)], name: name,
                tls: "[tls]\nca = \"\(certificates.caCertificate)\"", server: "tls://localhost:\(serverPort)"
            )
        }
        let before = try client("before", trusting: first, port: ports[0])
        defer { before.terminate() }
        _ = try await before.line(containing: "proxy before: ")

        try install(second)
        let reloaded = try await Self.curl("POST", admin, "/reload")
        #expect(reloaded.first == "200", "\(reloaded)")
        #expect(reloaded.contains { $0.contains("tls: certificate \(liveCertificate) and key \(liveKey) read again") }, "\(reloaded)")
        let after = try client("after", trusting: second, port: ports[1])
        defer { after.terminate() }
        _ = try await after.line(containing: "proxy after: ")
        #expect(try await Visitor.exchange(port: ports[0], sending: ByteBuffer(string: "old session")) == ByteBuffer(string: "old session"))
        #expect(!before.lines.contains { $0.contains("next attempt in") }, "\(before.lines)")

        // A key that does not load: the whole reload is refused, the token with it.
        try "not a key".write(toFile: liveKey, atomically: true, encoding: .utf8)
        let refused = try await Self.curl("POST", admin, "/reload", body: config(tokens + Self.token("more", "more-token-secret", ports: [1])))
        #expect(refused.first == "422", "\(refused)")
        #expect(refused.contains { $0.contains("cannot load [tls] key \(liveKey)") }, "\(refused)")
        let now = try await Self.curl("GET", admin, "/now")
        #expect(!now.contains("name = \"more\""), "\(now)")
        try await echo.channel.close()
    }

    /// Listeners follow the file: TLS turned on at the same address swaps the transport in
    /// place while a connect loop runs against the port (not one attempt refused), then the
    /// tunnel port moves to another port; the session made over plain TCP goes on throughout.
    @Test func aReloadSwapsListenersWithoutRefusingAConnection() async throws {
        let harness = try await TunnelHarness()
        let certificates = try await TestCertificates.make(in: harness.directory)
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(4)
        let (tunnel, moved, admin) = (ports[1], ports[2], ports[3])
        let tokens = Self.token("test", harness.token, ports: [ports[0]])
        func config(bind: Int, tls: Bool) -> String {
            let table = tls ? "[tls]\ncert = \"\(certificates.serverCertificate)\"\nkey = \"\(certificates.serverKey)\"\n" : ""
            return Self.serverConfig(admin: admin, tokens: table + tokens).replacingOccurrences(of: "bind = \"127.0.0.1:0\"", with: "bind = \"127.0.0.1:\(bind)\"")
        }
        let file = try harness.write("server.toml", config(bind: tunnel, tls: false))
        let server = try PeerProcess(TunnelHarness.binary, ["server", "-c", file], mergeStandardError: true)
        defer { server.terminate() }
        _ = try await server.line(containing: "listening for clients on 127.0.0.1:\(tunnel) over tcp")
        let plain = try harness.startClient(serverPort: tunnel, proxies: [.init(name: "web", local: echo.port, remote: ports[0])])
        defer { plain.terminate() }
        _ = try await plain.line(containing: "proxy web: ")

        let refused = try await Self.refusals(port: tunnel) {
            let answer = try await Self.curl("POST", admin, "/reload", body: config(bind: tunnel, tls: true))
            #expect(answer.first == "200", "\(answer)")
            #expect(answer.contains { $0.contains("tls: certificate") }, "\(answer)")
        }
        #expect(refused == 0)
        let secure = try harness.startClient(
            serverPort: tunnel, proxies: [], name: "secure", tls: "[tls]\nca = \"\(certificates.caCertificate)\"", server: "tls://localhost:\(tunnel)"
        )
        defer { secure.terminate() }
        _ = try await secure.line(containing: "logged in")

        // The tunnel port moves: the new one listens before the old one closes.
        try config(bind: moved, tls: true).write(toFile: file, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        _ = try await server.line(containing: "stopped listening on 127.0.0.1:\(tunnel) for the tunnel port")
        #expect(server.lines.contains { $0.contains("listening for clients on 127.0.0.1:\(moved) over tls") }, "\(server.lines)")
        #expect(await Visitor.isRefused(port: tunnel))
        #expect(!(await Visitor.isRefused(port: moved)))
        #expect(try await Visitor.exchange(port: ports[0], sending: ByteBuffer(string: "still here")) == ByteBuffer(string: "still here"))
        #expect(!plain.lines.contains { $0.contains("next attempt in") }, "\(plain.lines)")

        // Then onto every address at that port: 0.0.0.0 overlaps 127.0.0.1, both listen for a
        // moment (SO_REUSEPORT), and a connect loop to 127.0.0.1 sees nothing refused.
        let everywhere = config(bind: moved, tls: true)
            .replacingOccurrences(of: "bind = \"127.0.0.1:\(moved)\"", with: "bind = \"0.0.0.0:\(moved)\"")
        let refusedOnMove = try await Self.refusals(port: moved) {
            let answer = try await Self.curl("POST", admin, "/reload", body: everywhere)
            #expect(answer.first == "200", "\(answer)")
        }
        #expect(refusedOnMove == 0)
        _ = try await server.line(containing: "stopped listening on 127.0.0.1:\(moved) for the tunnel port")
        #expect(server.lines.contains { $0.contains("listening for clients on 0.0.0.0:\(moved) over tls") }, "\(server.lines)")
        #expect(try await Visitor.exchange(port: ports[0], sending: ByteBuffer(string: "and here")) == ByteBuffer(string: "and here"))
        try await echo.channel.close()
    }

    /// Connects to `port` and closes, again and again, while `change` runs and for 100 attempts
    /// after it; returns how many attempts were refused.
    static func refusals(port: Int, during change: () async throws -> Void) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            let done = NIOLockedValueBox(false)
            group.addTask {
                var refused = 0, after = 0
                while after < 100 {
                    if done.withLockedValue({ $0 }) { after += 1 }
                    if await Visitor.isRefused(port: port) { refused += 1 }
                }
                return refused
            }
            try await change()
            done.withLockedValue { $0 = true }
            return try await group.next()!
        }
    }

    /// A new token in the client's file starts a new session at once; the old one is handed
    /// over (GoAway): a visitor already through it keeps talking, new visitors go through the
    /// new session, and the client never waits out a backoff.
    @Test func aClientWithANewTokenStartsANewSessionAndTheOldOneDrains() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(2)
        let admin = ports[1]
        let server = try await harness.startServer(ports: [ports[0]], extraTokens: Self.token("second", "second-token-secret", ports: [ports[0]]))
        defer { server.process.terminate() }
        func clientConfig(token: String) -> String {
            """
            server = "tcp://127.0.0.1:\(server.port)"
            token = "\(token)"
            name = "lab"
            [admin]
            bind = "127.0.0.1:\(admin)"
            [[proxies]]
            name = "web"
            local = "127.0.0.1:\(echo.port)"
            remote_port = \(ports[0])
            """
        }
        let file = try harness.write("client.toml", clientConfig(token: harness.token))
        let client = try PeerProcess(TunnelHarness.binary, ["client", "-c", file, "--log-level", "debug"], mergeStandardError: true)
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy web: ")
        let held = try await HeldVisitor.connect(port: ports[0])
        #expect(try await held.echo("through the first session") == "through the first session")

        let published = client.lineCount
        let answer = try await Self.curl("POST", admin, "/reload", token: nil, body: clientConfig(token: "second-token-secret"))
        #expect(answer.first == "200", "\(answer)")
        #expect(answer.contains { $0.contains("token: a new session (the old one finishes its visitors)") }, "\(answer)")
        _ = try await server.process.line(containing: "client lab logged in from 127.0.0.1")
        _ = try await server.process.line(containing: "with token second")
        _ = try await client.line(containing: "proxy web: ", after: published)
        #expect(try await held.echo("still through the first") == "still through the first")
        #expect(try await Visitor.exchange(port: ports[0], sending: ByteBuffer(string: "through the second")) == ByteBuffer(string: "through the second"))
        #expect(!client.lines.contains { $0.contains("next attempt in") }, "\(client.lines)")
        try await echo.channel.close()
    }

    /// Sends `total` pseudo-random bytes through the echo at `port` in `chunk`-sized writes while
    /// reading the echo, hashing both sides as they go; returns both digests and the count back.
    static func streamThroughEcho(port: Int, total: Int, chunk: Int) async throws -> (sent: String, received: String, count: Int) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            async let sent: String = {
                var hasher = SHA256()
                for index in 0..<(total / chunk) {
                    let bytes = TestBytes.buffer(seed: UInt64(index), count: chunk)
                    hasher.update(data: Data(bytes.readableBytesView))
                    try await outbound.write(bytes)
                }
                outbound.finish()
                return hasher.finalize().map { String(format: "%02x", $0) }.joined()
            }()
            var hasher = SHA256()
            var count = 0
            for try await buffer in inbound {
                hasher.update(data: Data(buffer.readableBytesView))
                count += buffer.readableBytes
            }
            let received = hasher.finalize().map { String(format: "%02x", $0) }.joined()
            return (try await sent, received, count)
        }
    }
}

/// A visitor connection held open across reloads: each `echo` is a round trip through it.
final class HeldVisitor: Sendable {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let inbound: AsyncIteratorBox

    final class AsyncIteratorBox: @unchecked Sendable {
        var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.iterator = iterator }
    }

    private init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
        self.inbound = AsyncIteratorBox(channel.inbound.makeAsyncIterator())
    }

    /// NIO wants its writer finished before it goes: the connection ends with the test.
    deinit {
        self.channel.outbound.finish()
        self.channel.channel.close(promise: nil)
    }

    static func connect(port: Int) async throws -> HeldVisitor {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return HeldVisitor(channel: channel)
    }

    /// Sends `text` and reads until as many bytes came back.
    func echo(_ text: String) async throws -> String {
        try await self.channel.outbound.write(ByteBuffer(string: text))
        var received = ByteBuffer()
        while received.readableBytes < text.utf8.count, var chunk = try await self.inbound.iterator.next() {
            received.writeBuffer(&chunk)
        }
        return String(buffer: received)
    }
}
