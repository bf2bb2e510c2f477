import BurrowTestSupport
import Foundation
import NIOCore
import Testing

/// TCP visitors reaching a local service that speaks WebSocket (`local = "ws://..."`), with
/// Debian's python3-websockets as the service. Visitors read their answer and leave rather
/// than half-close: WebSocket has no half-close, and a close frame stops the service's answers.
@Suite(.timeLimit(.minutes(2))) struct WebSocketServiceTests {
    /// `Peers/ws_echo.py`: greets each connection with the text "hello\n", then echoes.
    struct EchoService {
        let process: PeerProcess
        let port: Int

        static var script: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/ws_echo.py").path
        }

        static func start(path: String, certificates: TestCertificates? = nil) async throws -> EchoService {
            let tls = certificates.map { [$0.serverCertificate, $0.serverKey] } ?? []
            let process = try PeerProcess("/usr/bin/python3", [Self.script, "127.0.0.1", path] + tls, mergeStandardError: true)
            let port = try #require(Int(try await process.line(startingWith: "listening on ").split(separator: " ").last!))
            return EchoService(process: process, port: port)
        }
    }

    /// 16 visitors at once, 4 MiB each: each gets the greeting (a text message, as bytes) and
    /// then its own bytes back, SHA-256 equal; over ws:// and over wss:// with a test CA.
    @Test(arguments: [false, true]) func sixteenVisitorsGetTheirBytesBackThroughAWebSocketService(secure: Bool) async throws {
        let harness = try await TunnelHarness()
        let certificates = secure ? try await TestCertificates.make(in: harness.directory) : nil
        let service = try await EchoService.start(path: "/echo", certificates: certificates)
        defer { service.process.terminate() }
        let local = secure ? "wss://localhost:\(service.port)/echo" : "ws://127.0.0.1:\(service.port)/echo"
        let tls = certificates.map { "tls = { ca = \"\($0.caCertificate)\" }" } ?? ""
        let (server, client) = try await Self.tunnel(harness, proxy: .init(name: "chat", local: 0, settings: tls, localAddress: local))
        defer { server.process.terminate(); client.terminate() }
        let port = try await client.publishedPort()

        try await withThrowingTaskGroup(of: Void.self) { group in
            for seed in 0..<16 {
                group.addTask {
                    let payload = TestBytes.buffer(seed: UInt64(seed), count: 4 << 20)
                    var expected = ByteBuffer(string: "hello\n")
                    expected.writeImmutableBuffer(payload)
                    let received = try await Visitor.exchange(port: port, sending: payload, until: expected.readableBytes)
                    #expect(received.readableBytes == expected.readableBytes, "visitor \(seed)")
                    #expect(sha256(received) == sha256(expected), "visitor \(seed)")
                }
            }
            try await group.waitForAll()
        }
    }

    /// A service that refuses the upgrade: the visitor is reset, the line gives the HTTP status,
    /// and the client's other proxies go on.
    @Test func aRefusedUpgradeResetsTheVisitorWithTheStatusInTheLog() async throws {
        let harness = try await TunnelHarness()
        let service = try await EchoService.start(path: "/echo")
        defer { service.process.terminate() }
        let ports = try await LoopbackPorts.free(2)
        let server = try await harness.startServer(ports: ports)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [
            .init(name: "wrong", local: 0, remote: ports[0], localAddress: "ws://127.0.0.1:\(service.port)/elsewhere"),
            .init(name: "right", local: 0, remote: ports[1], localAddress: "ws://127.0.0.1:\(service.port)/echo"),
        ])
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy wrong: ")
        _ = try await client.line(containing: "proxy right: ")

        #expect(try await ConnectionProbe.ending(port: ports[0], sending: ByteBuffer(string: "hello?")) == .reset)
        let line = try await client.line(containing: "cannot reach local service")
        #expect(line.contains("proxy wrong: cannot reach local service ws://127.0.0.1:\(service.port)/elsewhere for visitor 127.0.0.1:"), "\(line)")
        #expect(line.contains("HTTP 404 Not Found: no such path"), "\(line)")

        let payload = TestBytes.buffer(seed: 9, count: 64 * 1024)
        var expected = ByteBuffer(string: "hello\n")
        expected.writeImmutableBuffer(payload)
        #expect(try await Visitor.exchange(port: ports[1], sending: payload, until: expected.readableBytes) == expected)
    }

    static func tunnel(_ harness: TunnelHarness, proxy: TunnelHarness.Proxy) async throws -> (TunnelHarness.Server, PeerProcess) {
        let server = try await harness.startServer(ports: try await LoopbackPorts.free(1))
        do {
            return (server, try harness.startClient(serverPort: server.port, proxies: [proxy]))
        } catch {
            server.process.terminate()
            throw error
        }
    }
}
