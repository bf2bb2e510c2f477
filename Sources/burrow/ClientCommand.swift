import ArgumentParser
import BurrowConfig
import BurrowCore
import BurrowTransport
import BurrowClient
import BurrowMux
import CoreMetrics
import FoundationEssentials
import Logging
import NIOPosix

struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Run the LAN side: dial the server, publish the configured proxies, reconnect when the link drops.",
        discussion: """
            The scheme of `server` in the config picks the transport: tcp://host:port, tls://host:port, \
            ws://host[:port]/path or wss://host[:port]/path (through nginx or a CDN).

            SIGHUP reloads the config file: proxies added, removed or changed are opened, closed or re-opened \
            on the live session, the others keep their visitors; so does POST /reload on the [admin] API.

            Exits 2 when the server refuses the token (unless [reconnect] retry_on_auth_failure = true), 1 on a bad config.
            """
    )

    @Option(name: .shortAndLong, help: "The client config file.")
    var config = "client.toml"

    @OptionGroup var options: RunOptions

    func run() async throws {
        MemoryPolicy.apply()
        let configuration = try ConfigFile.load(self.config, ClientConfig.parse(bytes:file:environment:))
        let logger = LineLogHandler.bootstrap(level: self.options.logLevel, label: "client \(configuration.name)")
        // Metrics are kept for /metrics on the admin API: without one, there is nobody to read them.
        let metrics = PrometheusExport()
        let client = TunnelClient(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
            metrics: configuration.admin == nil ? NOOPMetricsHandler.instance : metrics.factory
        )
        Signals.onStatusRequest { logger.info("live objects: \(LiveObjects.summary())") }
        @Sendable func stop(_ why: String) {
            logger.info("\(why): stopping")
            client.stop()
        }
        Signals.onTermination(stop)
        let admin = AdminAPI<ClientConfig>(
            file: self.config, parse: { try ClientConfig.parse(bytes: $0, file: $1, environment: $2) },
            adapt: { client.adapt(to: $0) },
            reload: { client.reload(to: $0) },
            now: { client.configuration.redactedTOML },
            status: {
                let running = client.configuration
                return ClientStatus(name: running.name, server: "\(running.server)", loggedInAt: client.loggedInAt, proxies: client.status)
            },
            metrics: metrics,
            stop: { stop("admin API /stop") },
            logger: logger
        )
        let api = try await admin.start(configuration.admin)
        defer { Task { await api?.close() } }
        do {
            try await client.run()
        } catch let failure as BurrowError where failure.code == .authenticationFailed {
            Output.error("burrow client: \(failure)\n")
            throw ExitCode(2)
        }
    }
}

/// The client's `/status` document.
struct ClientStatus: Encodable, Sendable {
    let name: String
    let server: String
    /// When the session now running logged in (seconds since 1970); nil while there is none.
    let loggedInAt: Int64?
    /// Each proxy: its public port while published, why the server refused it, its traffic.
    let proxies: [TunnelClient.ProxyStatus]
}
