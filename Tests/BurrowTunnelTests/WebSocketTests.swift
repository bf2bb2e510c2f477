import BurrowTestSupport
import Foundation
import NIOCore
import Testing

/// What a WebSocket client meets when the URL is wrong, and what the WebSocket listener says to
/// things that are not Burrow clients. (Integrity, half-close and reconnect over ws and wss run
/// in `TunnelTests`; nginx in front in `ReverseProxyTests`.)
@Suite struct WebSocketTests {
    @Test func aWrongPathIsNamedWithItsHTTPStatusOnBothSides() async throws {
        let harness = try await TunnelHarness(transport: .ws)
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(1))
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [], server: "ws://127.0.0.1:\(server.port)/wrong")
        defer { client.terminate() }
        let line = try await client.line(containing: "attempt 1 to reach")
        #expect(line.contains("answered the WebSocket upgrade of /wrong with HTTP 404 Not Found"), "\(line)")
        #expect(line.contains("is the path right?"))
        _ = try await server.process.line(containing: "HTTP GET /wrong (upgrade): answered 404, the WebSocket path is \(TunnelHarness.webSocketPath)")
        // And it keeps trying, with backoff.
        _ = try await client.line(containing: "attempt 2 to reach")
    }

    @Test func aPlainWebServerAtTheURLIsNamedAsSuch() async throws {
        let harness = try await TunnelHarness(transport: .ws)
        let python = try await PythonHTTPServer.start(directory: harness.directory.path)
        defer { python.process.terminate() }
        let client = try harness.startClient(serverPort: python.port, proxies: [], server: "ws://127.0.0.1:\(python.port)/")
        defer { client.terminate() }
        let line = try await client.line(containing: "attempt 1 to reach")
        #expect(line.contains("with HTTP 200 OK (a plain web server, not a WebSocket endpoint?)"), "\(line)")
    }

    @Test func aWebSocketClientAtTheTunnelPortQuotesTheServersAnswer() async throws {
        let harness = try await TunnelHarness(transport: .tcp)
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(1))
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [], server: "ws://127.0.0.1:\(server.port)/burrow")
        defer { client.terminate() }
        let line = try await client.line(containing: "attempt 1 to reach")
        #expect(line.contains("HTTP 400 Bad Request: This is a Burrow tunnel port, not a web server"), "\(line)")
    }

    @Test func plainAndTLSWebSocketMismatchesAreNamedOnBothSides() async throws {
        // ws:// at a wss:// listener.
        let tlsHarness = try await TunnelHarness(transport: .wss)
        let tlsServer = try await tlsHarness.startServer(ports: try await TunnelHarness.freePorts(1))
        defer { tlsServer.process.terminate() }
        let plainClient = try tlsHarness.startClient(serverPort: tlsServer.port, proxies: [], tls: "", server: "ws://127.0.0.1:\(tlsServer.port)\(TunnelHarness.webSocketPath)")
        defer { plainClient.terminate() }
        let closed = try await plainClient.line(containing: "attempt 1 to reach")
        #expect(closed.contains("without answering the WebSocket upgrade (a TLS endpoint that wants wss://"), "\(closed)")
        _ = try await tlsServer.process.line(containing: "TLS handshake failed")
        #expect(tlsServer.process.lines.contains { $0.contains("a plain ws:// client on a wss:// listener?") })

        // wss:// at a plain ws:// listener.
        let plainHarness = try await TunnelHarness(transport: .ws)
        let plainServer = try await plainHarness.startServer(ports: try await TunnelHarness.freePorts(1))
        defer { plainServer.process.terminate() }
        let tlsClient = try tlsHarness.startClient(serverPort: plainServer.port, proxies: [])
        defer { tlsClient.terminate() }
        let refused = try await tlsClient.line(containing: "attempt 1 to reach")
        #expect(refused.contains("the server does not speak TLS here (use ws:// for a server without TLS)"), "\(refused)")
        _ = try await plainServer.process.line(containing: "malformed HTTP request")
    }

    @Test func theListenerShowsBrowsersWhatItIsAndClosesSilentConnections() async throws {
        let harness = try await TunnelHarness(transport: .ws)
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(1), handshakeTimeout: "500ms")
        defer { server.process.terminate() }
        let base = "http://127.0.0.1:\(server.port)"

        let page = try PeerProcess("/usr/bin/curl", ["-sS", "-w", "\n%{http_code}\n", "\(base)\(TunnelHarness.webSocketPath)"], mergeStandardError: true)
        #expect(await page.exitStatus() == 0)
        #expect(page.lines.first?.hasPrefix("This is a Burrow tunnel endpoint") == true, "\(page.lines)")
        #expect(page.lines.last == "200")

        let missing = try PeerProcess("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}\n", "\(base)/elsewhere"], mergeStandardError: true)
        #expect(await missing.exitStatus() == 0)
        #expect(missing.lines == ["404"])

        // A connection that never sends a request is closed after the handshake timeout.
        let (silent, silentPort) = try await Visitor.connect(port: server.port)
        try await silent.closeFuture.get()
        _ = try await server.process.line(containing: "127.0.0.1:\(silentPort): no WebSocket upgrade within 0.5 s: closed")
    }

    @Test func textMessagesAreRefusedWithCloseCode1003() async throws {
        let harness = try await TunnelHarness(transport: .ws)
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(1))
        defer { server.process.terminate() }
        // A real WebSocket peer (Debian's python3-websockets) that upgrades and sends text.
        let script = """
            import asyncio, sys, websockets
            async def main():
                async with websockets.connect(sys.argv[1]) as ws:
                    await ws.send("hello")
                    try:
                        await ws.recv()
                    except websockets.ConnectionClosed as closed:
                        print("closed", closed.rcvd.code if closed.rcvd else None, flush=True)
            asyncio.run(main())
            """
        let python = try PeerProcess("/usr/bin/python3", ["-c", script, "ws://127.0.0.1:\(server.port)\(TunnelHarness.webSocketPath)"], mergeStandardError: true)
        let line = try await python.line(startingWith: "closed")
        #expect(line == "closed 1003", "\(python.lines)")
        _ = try await server.process.line(containing: "text message")
    }
}
