import BurrowTestSupport
import Foundation
import NIOCore
import Testing

/// The WebSocket transport behind a real nginx: the deployment the transport exists for.
@Suite struct ReverseProxyTests {
    /// Whether nginx speaks TLS to the client (and plain WebSocket to the server behind it).
    enum Front: String, CaseIterable, Sendable {
        case ws, wss
    }

    @Test(arguments: Front.allCases)
    func visitorsGetThroughNginxByteExact(_ front: Front) async throws {
        let harness = try await TunnelHarness(transport: .ws)
        let certificates = front == .wss ? try await TestCertificates.make(in: harness.directory) : nil
        let echo = try await EchoService.start()
        let publicPorts = try await TunnelHarness.freePorts(4)
        let server = try await harness.startServer(ports: publicPorts)
        defer { server.process.terminate() }
        let nginx = try await Nginx.start(in: harness.directory, sites: [.init(upstreamPort: server.port)], certificates: certificates)
        defer { nginx.process.terminate() }

        let url = front == .wss
            ? "wss://localhost:\(nginx.port)\(TunnelHarness.webSocketPath)"
            : "ws://localhost:\(nginx.port)\(TunnelHarness.webSocketPath)"
        let client = try harness.startClient(
            serverPort: nginx.port, proxies: [.init(name: "echo", local: echo.port)],
            tls: certificates.map { "[tls]\nca = \"\($0.caCertificate)\"" }, server: url
        )
        defer { client.terminate() }
        _ = try await client.line(containing: "logged in to \(url)")
        // The server names the client's own address, as nginx reported it, next to nginx's.
        _ = try await server.process.line(containing: "(forwarded for 127.0.0.1) with token test")
        let publicPort = try await client.publishedPort()

        try await withThrowingTaskGroup(of: Bool.self) { group in
            for visitor in 0..<16 {
                group.addTask {
                    let payload = TestBytes.buffer(seed: UInt64(100 + visitor), count: 4 << 20)
                    let echoed = try await Visitor.exchange(port: publicPort, sending: payload, deadline: 120)
                    return sha256(payload) == sha256(echoed)
                }
            }
            var exact = 0
            for try await same in group where same { exact += 1 }
            #expect(exact == 16, "\(16 - exact) of 16 visitors got back something other than what they sent")
        }
        try await echo.channel.close()
    }

    /// nginx cuts a proxied connection that is silent for its read timeout. The mux's
    /// keepalive pings travel as WebSocket messages and keep an idle session up; a client whose
    /// heartbeat is slower than the proxy's timeout is cut (which shows the proxy does cut).
    @Test func keepalivePingsHoldAnIdleSessionThroughAProxyThatCutsIdleConnections() async throws {
        let harness = try await TunnelHarness(transport: .ws)
        let echo = try await EchoService.start()
        // The server's own pings are rare here: what keeps a session up is its client's.
        let server = try await harness.startServer(ports: try await TunnelHarness.freePorts(6), heartbeat: "30s")
        defer { server.process.terminate() }
        let nginx = try await Nginx.start(in: harness.directory, sites: [.init(upstreamPort: server.port, readTimeout: "1s")])
        defer { nginx.process.terminate() }
        let url = "ws://localhost:\(nginx.port)\(TunnelHarness.webSocketPath)"

        // A heartbeat slower than nginx's timeout: nginx ends the session.
        let slow = try harness.startClient(
            serverPort: nginx.port, proxies: [.init(name: "slow", local: echo.port)], name: "slow",
            heartbeat: "30s", server: url
        )
        defer { slow.terminate() }
        _ = try await slow.publishedPort()

        let steady = try harness.startClient(
            serverPort: nginx.port, proxies: [.init(name: "echo", local: echo.port)], name: "steady",
            heartbeat: "200ms", server: url
        )
        defer { steady.terminate() }
        let port = try await steady.publishedPort()
        // nginx cuts the slow one, which comes back and is cut again: each cut is a full second
        // of silence, so by the third the steady session (idle, no visitors) has lived through
        // at least two of nginx's timeouts.
        let cut = try await slow.line(containing: "attempt 1 to reach")
        #expect(cut.contains("ended"))
        _ = try await slow.line(containing: "attempt 3 to reach")
        let payload = TestBytes.buffer(seed: 7, count: 1 << 20)
        let echoed = try await Visitor.exchange(port: port, sending: payload)
        #expect(sha256(echoed) == sha256(payload))
        #expect(!steady.lines.contains { $0.contains("attempt") }, "the steady client lost its session: \(steady.lines)")
        try await echo.channel.close()
    }

    /// A CDN or a virtual host routes by the Host header: the client can send the name the
    /// proxy expects while dialing an address.
    @Test func anExtraHostHeaderReachesTheNamedVirtualHost() async throws {
        let harness = try await TunnelHarness(transport: .ws)
        let echo = try await EchoService.start()
        let publicPorts = try await TunnelHarness.freePorts(4)
        let server = try await harness.startServer(ports: publicPorts)
        defer { server.process.terminate() }
        let nginx = try await Nginx.start(in: harness.directory, sites: [.init(serverName: "tunnel.example", upstreamPort: server.port)])
        defer { nginx.process.terminate() }
        let url = "ws://127.0.0.1:\(nginx.port)\(TunnelHarness.webSocketPath)"

        // Without the header nginx's default server answers 404.
        let plain = try harness.startClient(serverPort: nginx.port, proxies: [], name: "plain", server: url)
        defer { plain.terminate() }
        let refused = try await plain.line(containing: "attempt 1 to reach")
        #expect(refused.contains("HTTP 404 Not Found"), "\(refused)")

        let named = try harness.startClient(
            serverPort: nginx.port, proxies: [.init(name: "echo", local: echo.port)], name: "named",
            extra: "[websocket]\nheaders = { Host = \"tunnel.example\" }", server: url
        )
        defer { named.terminate() }
        let publicPort = try await named.publishedPort()
        let echoed = try await Visitor.exchange(port: publicPort, sending: ByteBuffer(string: "through the named host"))
        #expect(String(buffer: echoed) == "through the named host")
        try await echo.channel.close()
    }
}
