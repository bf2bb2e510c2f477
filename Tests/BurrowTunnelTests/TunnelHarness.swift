import BurrowTestSupport
import Crypto
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Runs the real `burrow` binary as server and client processes, with configs written to a
/// fresh directory, and real services and visitors on loopback. Every port comes from the OS.
final class TunnelHarness: Sendable {
    /// How clients reach the server: the suite runs once per transport.
    enum Transport: String, CaseIterable, Sendable {
        case tcp, tls, ws, wss

        var usesTLS: Bool { self == .tls || self == .wss }
        var isWebSocket: Bool { self == .ws || self == .wss }
    }

    /// The WebSocket path the server upgrades.
    static let webSocketPath = "/burrow"

    let directory: URL
    let token = "test-token-\(UUID().uuidString)"
    let transport: Transport
    /// Made with openssl when the transport needs them.
    let certificates: TestCertificates?

    init(transport: Transport = .tcp) async throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("burrow-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        self.transport = transport
        self.certificates = transport.usesTLS ? try await TestCertificates.make(in: self.directory) : nil
    }

    /// The server's `[tls]` table, or nothing for tcp.
    private var serverTLS: String {
        guard let certificates else { return "" }
        return "[tls]\ncert = \"\(certificates.serverCertificate)\"\nkey = \"\(certificates.serverKey)\"\n"
    }

    deinit {
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// The `burrow` executable next to the test bundle (SwiftPM builds it for this target).
    static var binary: String {
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("burrow").path
        precondition(FileManager.default.isExecutableFile(atPath: path), "no burrow executable at \(path): run `swift build` first")
        return path
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = self.directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A running `burrow server` and the port its clients dial (the tunnel port, or the
    /// WebSocket listener's).
    struct Server {
        let process: PeerProcess
        let port: Int
    }

    /// The server's `[websocket]` table for ws and wss.
    private func serverWebSocket(port: Int) -> String {
        guard self.transport.isWebSocket else { return "" }
        return "[websocket]\nbind = \"127.0.0.1:\(port)\"\npath = \"\(Self.webSocketPath)\"\n"
    }

    /// Starts `burrow server` on 127.0.0.1 with one token for `ports`; the port clients dial is
    /// `port` (0: one from the OS).
    func startServer(
        ports: [Int], port: Int = 0, heartbeat: String = "10s", handshakeTimeout: String = "10s", extraTokens: String = "",
        extra: String = ""
    ) async throws -> Server {
        let config = try self.write("server-\(UUID().uuidString).toml", """
            bind = "127.0.0.1:\(self.transport.isWebSocket ? 0 : port)"
            heartbeat_interval = "\(heartbeat)"
            handshake_timeout = "\(handshakeTimeout)"
            \(extra)
            \(self.serverTLS)
            \(self.serverWebSocket(port: port))
            [[tokens]]
            name = "test"
            token = "\(self.token)"
            ports = [\(ports.map(String.init).joined(separator: ", "))]
            \(extraTokens)
            """)
        let process = try PeerProcess(Self.binary, ["server", "-c", config, "--log-level", "debug"], mergeStandardError: true)
        let line = try await process.line(containing: self.transport.isWebSocket ? "listening for WebSocket clients on" : "listening for clients on")
        let bound = try #require(Int(line.split(separator: ":").last!.split(separator: " ").first!))
        return Server(process: process, port: bound)
    }

    struct Proxy {
        var name: String
        var local: Int
        var remote: Int?
        var type = "tcp"
        /// More keys of the proxy's table, as TOML lines.
        var settings = ""
        /// The whole `local` value when it is not 127.0.0.1:`local` (a ws:// URL, say).
        var localAddress: String?
    }

    /// Starts `burrow client` against `serverPort` with `proxies`.
    func startClient(
        serverPort: Int, proxies: [Proxy], name: String = "lab", token: String? = nil, heartbeat: String = "10s",
        extra: String = "", tls: String? = nil, server url: String? = nil
    ) throws -> PeerProcess {
        // Over TLS (tls, wss) the client names the server "localhost" (the certificate's name)
        // and trusts the test CA, unless the test gives its own [tls] table.
        let url = url ?? self.serverURL(port: serverPort)
        let tlsTable = tls ?? self.certificates.map { "[tls]\nca = \"\($0.caCertificate)\"" } ?? ""
        let proxyTables = proxies.map { proxy in
            """
            [[proxies]]
            name = "\(proxy.name)"
            type = "\(proxy.type)"
            local = "\(proxy.localAddress ?? "127.0.0.1:\(proxy.local)")"
            \(proxy.remote.map { "remote_port = \($0)" } ?? "")
            \(proxy.settings)
            """
        }.joined(separator: "\n")
        let config = try self.write("client-\(UUID().uuidString).toml", """
            server = "\(url)"
            token = "\(token ?? self.token)"
            name = "\(name)"
            heartbeat_interval = "\(heartbeat)"
            local_connect_timeout = "2s"
            \(extra)
            \(tlsTable)
            [reconnect]
            initial_delay = "100ms"
            max_delay = "1s"
            \(proxyTables)
            """)
        return try PeerProcess(Self.binary, ["client", "-c", config, "--log-level", "debug"], mergeStandardError: true)
    }

    /// A server with four ports for its token and a client publishing one proxy to `local`.
    func startTunnel(proxy: String, to local: Int) async throws -> (server: Server, client: PeerProcess) {
        let server = try await self.startServer(ports: try await Self.freePorts(4))
        do {
            return (server, try self.startClient(serverPort: server.port, proxies: [.init(name: proxy, local: local)]))
        } catch {
            server.process.terminate()
            throw error
        }
    }

    /// The URL a client dials for this transport.
    func serverURL(port: Int) -> String {
        switch self.transport {
        case .tcp: "tcp://127.0.0.1:\(port)"
        case .tls: "tls://localhost:\(port)"
        case .ws: "ws://127.0.0.1:\(port)\(Self.webSocketPath)"
        case .wss: "wss://localhost:\(port)\(Self.webSocketPath)"
        }
    }

    /// Ports the OS just handed out and took back: free now, and nobody else's.
    static func freePorts(_ count: Int) async throws -> [Int] {
        try await LoopbackPorts.free(count)
    }
}

/// A local service that echoes everything and half-closes after the visitor's EOF.
struct EchoService {
    let channel: Channel
    var port: Int { self.channel.localAddress!.port! }

    static func start() async throws -> EchoService {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { $0.pipeline.addHandler(EchoHandler()) }
            .bind(host: "127.0.0.1", port: 0).get()
        return EchoService(channel: channel)
    }
}

/// A visitor: connects, sends `payload`, half-closes, and returns everything it receives until
/// the other side closes; or, given `until`, stays open and returns once that many bytes have
/// come. Gives up (returning what it has) after `deadline` seconds.
enum Visitor {
    static func exchange(port: Int, sending payload: ByteBuffer, until: Int? = nil, deadline: Int64 = 60) async throws -> ByteBuffer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        let guardTimer = channel.channel.eventLoop.scheduleTask(in: .seconds(deadline)) { channel.channel.close(promise: nil) }
        defer { guardTimer.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask {
                    var remaining = payload
                    while remaining.readableBytes > 0 {
                        try await outbound.write(remaining.readSlice(length: min(64 * 1024, remaining.readableBytes))!)
                    }
                    // Without `until` the visitor half-closes and reads to the end; with it, it
                    // stays open and leaves once that much has come back (a WebSocket service
                    // has no half-close: it would stop answering).
                    if until == nil { outbound.finish() }
                    return nil
                }
                group.addTask {
                    var received = ByteBuffer()
                    for try await var chunk in inbound {
                        received.writeBuffer(&chunk)
                        if let until, received.readableBytes >= until { break }
                    }
                    return received
                }
                var result = ByteBuffer()
                for try await value in group { if let value { result = value } }
                return result
            }
        }
    }

    /// A bare connection that says nothing, and its local port (how the server's logs name it).
    static func connect(port: Int) async throws -> (Channel, Int) {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port)
            .map { ($0, $0.localAddress?.port ?? 0) }
            .get()
    }

    /// Whether a TCP connection to `port` is refused.
    static func isRefused(port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            try? await channel.close()
            return false
        } catch {
            return true
        }
    }
}

func sha256(_ buffer: ByteBuffer) -> String {
    SHA256.hash(data: Data(buffer.readableBytesView)).map { String(format: "%02x", $0) }.joined()
}

extension PeerProcess {
    /// The public port the server gave a client's proxy, from the client's log line "proxy P:
    /// ... is published on server port N". Tests let the server pick among several free ports
    /// of the token: a port the OS handed out and took back may be taken again by anyone (an
    /// outgoing connection's local port, say) before the server binds it.
    func publishedPort(after: Int = 0) async throws -> Int {
        let line = try await self.line(containing: "is published on server port", after: after)
        return try #require(line.split(separator: " ").last.flatMap { Int($0) })
    }
}
