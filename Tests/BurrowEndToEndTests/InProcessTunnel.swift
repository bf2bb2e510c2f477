import BurrowClient
import BurrowConfig
import BurrowServer
import BurrowTestSupport
import CoreMetrics
import Logging
import NIOCore
import NIOPosix

/// A `TunnelServer` and a `TunnelClient` in this test process on loopback, with an echo service
/// behind the client: the tier between the in-memory mux tests and the real binary. Tests
/// assert on the client's events and state, not on log wording.
struct InProcessTunnel {
    let server: TunnelServer
    let client: TunnelClient
    let events: AsyncStream<TunnelClient.Event>
    let echo: Channel
    /// The public ports the token allows, from the OS.
    let ports: [Int]
    let rule: ServerConfig.TokenRule
    let run: Task<Void, Error>

    static let group = MultiThreadedEventLoopGroup.singleton

    /// Starts everything; the client publishes one proxy per entry of `proxies` (name and an
    /// index into `ports`) to the echo service.
    static func start(
        portCount: Int, proxies: [(name: String, port: Int)], udp: [(name: String, port: Int, service: Channel, settings: UDPFlowSettings)] = [],
        proxyBindHost: String? = nil, serverMetrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) async throws -> InProcessTunnel {
        let echo = try await ServerBootstrap(group: Self.group)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { $0.pipeline.addHandler(EchoHandler()) }
            .bind(host: "127.0.0.1", port: 0).get()
        let ports = try await LoopbackPorts.free(portCount)
        let token = Secret("in-process-token-\(UInt64.random(in: 0 ... .max))")
        let rule = ServerConfig.TokenRule(name: "lab", token: token, ports: PortSet(ports.map { $0...$0 }))
        var serverConfiguration = ServerConfig(bind: Endpoint(host: "127.0.0.1", port: 0), tokens: [rule])
        serverConfiguration.proxyBindHost = proxyBindHost
        let server = TunnelServer(
            configuration: serverConfiguration,
            group: Self.group, logger: Logger(label: "server", factory: { _ in SwiftLogNoOpLogHandler() }), metrics: serverMetrics
        )
        let address = try await server.start()
        var configuration = ClientConfig(
            server: ServerAddress(scheme: .tcp, endpoint: Endpoint(host: "127.0.0.1", port: address.port!)),
            token: token, name: "lab",
            proxies: proxies.map { Self.proxy($0.name, to: echo, remotePort: ports[$0.port]) }
                + udp.map { ClientConfig.Proxy(
                    name: $0.name, type: .udp, local: Endpoint(host: $0.service.localAddress!.ipAddress!, port: $0.service.localAddress!.port!),
                    remotePort: ports[$0.port], udp: $0.settings
                ) }
        )
        configuration.reconnect.initialDelay = .milliseconds(10)
        let (events, continuation) = AsyncStream.makeStream(of: TunnelClient.Event.self)
        let client = TunnelClient(configuration: configuration, group: Self.group, logger: Logger(label: "client", factory: { _ in SwiftLogNoOpLogHandler() })) {
            continuation.yield($0)
        }
        let run = Task {
            defer { continuation.finish() }
            try await client.run()
        }
        return InProcessTunnel(server: server, client: client, events: events, echo: echo, ports: ports, rule: rule, run: run)
    }

    static func proxy(_ name: String, to echo: Channel, remotePort: Int?) -> ClientConfig.Proxy {
        ClientConfig.Proxy(name: name, type: .tcp, local: Endpoint(host: "127.0.0.1", port: echo.localAddress!.port!), remotePort: remotePort)
    }

    func stop() async {
        self.client.stop()
        _ = try? await self.run.value
        await self.server.stop(grace: .milliseconds(100))
        try? await self.echo.close()
    }

    /// Sends `text` through a public port and returns what comes back.
    static func visit(_ port: Int, _ text: String = "hello") async throws -> String {
        let channel = try await ClientBootstrap(group: Self.group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: text))
            var received = ""
            for try await chunk in inbound {
                received += String(buffer: chunk)
                if received.utf8.count >= text.utf8.count { break }
            }
            return received
        }
    }


}

extension AsyncStream<TunnelClient.Event>.Iterator {
    /// The next event that `matches`, skipping others; nil when the client has ended.
    mutating func next(where matches: (TunnelClient.Event) -> Bool) async -> TunnelClient.Event? {
        while let event = await self.next() {
            if matches(event) { return event }
        }
        return nil
    }
}
