import BurrowTestSupport
import Foundation
import NIOCore
import Testing

/// `burrow bridge`, the converter with no tunnel, both ways, with real peers: python3-websockets
/// on the WebSocket side, and Debian's websockify as the other end of a chain.
@Suite(.timeLimit(.minutes(2))) struct BridgeTests {
    /// A running `burrow bridge` and the port it bound.
    struct Bridge {
        let process: PeerProcess
        let port: Int

        static func start(_ arguments: [String]) async throws -> Bridge {
            let process = try PeerProcess(TunnelHarness.binary, ["bridge"] + arguments, mergeStandardError: true)
            let line = try await process.line(containing: "bridging ")
            let bound = try #require(line.split(separator: "(bound ").last?.split(separator: ")").first)
            let port = try #require(Int(bound.split(separator: ":").last!), "\(line)")
            return Bridge(process: process, port: port)
        }
    }

    static var visitorScript: String { WebSocketVisitorTests.visitorScript }

    /// TCP clients to a WebSocket service: 8 at once, 4 MiB each, each gets the service's
    /// greeting and then its own bytes, SHA-256 equal.
    @Test func tcpClientsReachAWebSocketService() async throws {
        let service = try await WebSocketServiceTests.EchoService.start(path: "/echo")
        defer { service.process.terminate() }
        let bridge = try await Bridge.start(["--listen", "127.0.0.1:0", "--to", "ws://127.0.0.1:\(service.port)/echo"])
        defer { bridge.process.terminate() }
        #expect(bridge.process.lines.last?.contains("bridging tcp 127.0.0.1:0") == true, "\(bridge.process.lines)")

        try await withThrowingTaskGroup(of: Void.self) { group in
            for seed in 0..<8 {
                group.addTask {
                    let payload = TestBytes.buffer(seed: UInt64(seed), count: 4 << 20)
                    var expected = ByteBuffer(string: "hello\n")
                    expected.writeImmutableBuffer(payload)
                    let received = try await Visitor.exchange(port: bridge.port, sending: payload, until: expected.readableBytes)
                    #expect(sha256(received) == sha256(expected), "visitor \(seed)")
                }
            }
            try await group.waitForAll()
        }
    }

    /// WebSocket visitors to a TCP service: binary and text messages, 1 MiB, a ping; with
    /// `--message text` the service's bytes come back as text.
    @Test(arguments: ["binary", "text"]) func webSocketVisitorsReachATCPService(message: String) async throws {
        let echo = try await EchoService.start()
        let bridge = try await Bridge.start(["--listen", "ws://127.0.0.1:0/socket", "--to", "127.0.0.1:\(echo.port)", "--message", message])
        defer { bridge.process.terminate() }
        let visitor = try PeerProcess("/usr/bin/python3", [Self.visitorScript, "ws://127.0.0.1:\(bridge.port)/socket", message], mergeStandardError: true)
        #expect(await visitor.exitStatus() == 0, "\(visitor.lines)")
        let kind = message == "binary" ? "bytes" : "str"
        #expect(visitor.lines == ["binary ok \(kind)", "text ok \(kind)", "large ok 1048576 bytes", "ping ok pong"])
        try await echo.channel.close()
    }

    /// TCP -> burrow bridge -> websockify -> TCP echo: Burrow's WebSocket client against
    /// another implementation's server, 4 visitors x 4 MiB, byte-exact.
    @Test func aChainThroughWebsockifyIsByteExact() async throws {
        let echo = try await EchoService.start()
        let websockifyPort = try await LoopbackPorts.free(1)[0]
        let websockify = try PeerProcess("/usr/bin/websockify", ["127.0.0.1:\(websockifyPort)", "127.0.0.1:\(echo.port)"], mergeStandardError: true)
        defer { websockify.terminate() }
        _ = try await websockify.line(containing: "proxying from")
        let bridge = try await Bridge.start(["--listen", "127.0.0.1:0", "--to", "ws://127.0.0.1:\(websockifyPort)/"])
        defer { bridge.process.terminate() }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for seed in 0..<4 {
                group.addTask {
                    let payload = TestBytes.buffer(seed: UInt64(100 + seed), count: 4 << 20)
                    let received = try await Visitor.exchange(port: bridge.port, sending: payload, until: payload.readableBytes)
                    #expect(sha256(received) == sha256(payload), "visitor \(seed)")
                }
            }
            try await group.waitForAll()
        }
        try await echo.channel.close()
    }

    /// A target that cannot be reached resets the client, and one line says why.
    @Test func anUnreachableTargetResetsTheClientWithALogLine() async throws {
        let closed = try await LoopbackPorts.free(1)[0]
        let bridge = try await Bridge.start(["--listen", "127.0.0.1:0", "--to", "127.0.0.1:\(closed)"])
        defer { bridge.process.terminate() }
        #expect(try await ConnectionProbe.ending(port: bridge.port, sending: ByteBuffer(string: "anyone?")) == .reset)
        let line = try await bridge.process.line(containing: "cannot reach")
        #expect(line.contains("cannot reach 127.0.0.1:\(closed): connection refused: connection reset"), "\(line)")
    }

    /// Mistakes on the command line are named with their option, before anything is bound.
    @Test(arguments: [
        (["--listen", "wss://127.0.0.1:0/x", "--to", "127.0.0.1:1"], "--listen: a wss:// listener needs a certificate"),
        (["--listen", "127.0.0.1:0", "--to", "http://x/"], "--to: expected HOST:PORT, ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"),
        (["--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--header", "Origin: x"], "--header applies to a ws:// or wss:// target only"),
        (["--listen", "127.0.0.1:0", "--to", "ws://x/", "--header", "Upgrade: h2c"], "--header: Upgrade is set by the WebSocket upgrade itself"),
        (["--listen", "127.0.0.1:0", "--to", "ws://x/", "--ca", "ca.pem"], "--ca applies to a wss:// target only"),
        (["--listen", "127.0.0.1:0", "--to", "ws://x/", "--connect-timeout", "soon"], "--connect-timeout: expected a duration"),
    ])
    func mistakesAreNamedWithTheirOption(_ arguments: [String], _ problem: String) async throws {
        let bridge = try PeerProcess(TunnelHarness.binary, ["bridge"] + arguments, mergeStandardError: true)
        #expect(await bridge.exitStatus() == 64)
        #expect(bridge.lines.contains { $0.contains(problem) }, "\(bridge.lines)")
    }
}
