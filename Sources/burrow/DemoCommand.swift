import ArgumentParser
import BurrowConfig
import BurrowClient
import BurrowServer
import FoundationEssentials
import Logging
import NIOCore
import NIOPosix

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a server, a client and a small web service on loopback, and show a visitor reach the service through the tunnel."
    )

    /// The transports the demo can show without certificates.
    enum Transport: String, ExpressibleByArgument, CaseIterable {
        case tcp, ws
    }

    @Option(help: "How the client reaches the server: tcp (the tunnel port) or ws (the [websocket] listener).")
    var transport: Transport = .tcp

    @OptionGroup var options: RunOptions

    func run() async throws {
        MemoryPolicy.apply()
        let logger = LineLogHandler.bootstrap(level: self.options.logLevel, label: "demo")
        let group = MultiThreadedEventLoopGroup.singleton
        func step(_ text: String) { print("==> \(text)") }

        step("starting a web service on loopback (the service behind the NAT)")
        let service = try await DemoWebService.start(group: group)
        step("the web service listens on \(service.address)")

        let token = Secret(UUID().uuidString)
        let publicPorts = try await Self.freePorts(4, group: group)
        var serverConfig = ServerConfig(
            bind: Endpoint(host: "127.0.0.1", port: 0),
            tokens: [.init(name: "demo", token: token, ports: PortSet(publicPorts.map { $0...$0 }))]
        )
        if self.transport == .ws {
            serverConfig.webSocket = .init(bind: Endpoint(host: "127.0.0.1", port: 0), path: "/burrow", tls: false)
        }
        let server = TunnelServer(configuration: serverConfig, group: group, logger: Logger(label: "server"))
        let tunnelAddress = try await server.start()
        let serverURL = switch self.transport {
        case .tcp: ServerAddress(scheme: .tcp, endpoint: Endpoint(host: "127.0.0.1", port: tunnelAddress.port!))
        case .ws: ServerAddress(scheme: .ws, endpoint: Endpoint(host: "127.0.0.1", port: server.webSocketAddress!.port!), path: "/burrow")
        }
        step("burrow server accepts clients at \(serverURL); token \"demo\" may open ports \(publicPorts.map(String.init).joined(separator: ", "))")

        let clientConfig = ClientConfig(
            server: serverURL,
            token: token, name: "demo-lan",
            proxies: [.init(name: "web", type: .tcp, local: service.address, remotePort: nil)]
        )
        let opened = AsyncStream.makeStream(of: TunnelClient.Event.self)
        let client = TunnelClient(configuration: clientConfig, group: group, logger: Logger(label: "client demo-lan")) { event in
            opened.continuation.yield(event)
        }
        let clientTask = Task { try await client.run() }
        var port: Int?
        for await event in opened.stream {
            if case .proxyOpened(_, let remotePort) = event { port = remotePort; break }
            if case .proxyRejected(_, let reason) = event { logger.error("proxy rejected: \(reason)"); break }
        }
        guard let port else { throw ExitCode(1) }
        step("burrow client published the web service on server port \(port)")

        step("a visitor fetches http://127.0.0.1:\(port)/ through the tunnel")
        let response = try await DemoVisitor.fetch(host: "127.0.0.1", port: port, group: group)
        print(response.split(separator: "\r\n", omittingEmptySubsequences: false).map { "    | \($0)" }.joined(separator: "\n"))
        let ok = response.hasPrefix("HTTP/1.1 200") && response.contains(DemoWebService.greeting)

        client.stop()
        _ = try? await clientTask.value
        await server.stop(grace: .seconds(1))
        try? await service.channel.close()
        if ok {
            step("the visitor reached the service behind the tunnel: demo passed")
        } else {
            step("the visitor did not get the expected page: demo FAILED")
            throw ExitCode(1)
        }
    }

    /// Ports the OS just handed out, for the demo token's allowed list. Several: one may be
    /// taken again by another program before the client asks for it, and the server then
    /// picks the next.
    private static func freePorts(_ count: Int, group: EventLoopGroup) async throws -> [Int] {
        var channels: [Channel] = []
        for _ in 0..<count { channels.append(try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()) }
        let ports = channels.map { $0.localAddress!.port! }
        for channel in channels { try await channel.close() }
        return ports
    }
}

/// A tiny web service: answers every request with one page.
struct DemoWebService {
    static let greeting = "Hello from behind the NAT, through Burrow!"
    let channel: Channel
    var address: Endpoint { Endpoint(host: "127.0.0.1", port: self.channel.localAddress!.port!) }

    static func start(group: EventLoopGroup) async throws -> DemoWebService {
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { $0.pipeline.addHandler(PageHandler()) }
            .bind(host: "127.0.0.1", port: 0).get()
        return DemoWebService(channel: channel)
    }

    final class PageHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let request = self.unwrapInboundIn(data)
            guard request.readableBytesView.contains(UInt8(ascii: "\n")) else { return }
            let body = DemoWebService.greeting + "\n"
            let page = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: page))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}

/// A visitor: one HTTP GET over a plain TCP connection, the whole answer returned.
enum DemoVisitor {
    static func fetch(host: String, port: Int, group: EventLoopGroup) async throws -> String {
        let channel = try await ClientBootstrap(group: group).connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n"))
            var response = ByteBuffer()
            for try await var chunk in inbound { response.writeBuffer(&chunk) }
            return String(buffer: response)
        }
    }
}
