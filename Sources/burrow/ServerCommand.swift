import ArgumentParser
import BurrowConfig
import BurrowCore
import BurrowServer
import BurrowMux
import CoreMetrics
import FoundationEssentials
import Logging
import NIOPosix

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the public side: accept clients, open the ports their tokens allow.",
        discussion: """
            Clients connect on `bind` (tcp://, or tls:// with [tls]) and, with [websocket], over ws:// or wss:// \
            on a listener of its own.

            Stops gracefully on SIGINT or SIGTERM: no new visitors, GoAway to every client, open streams finish. \
            SIGUSR1 logs how many sessions and streams are alive. SIGHUP reloads the config file (tokens \
            take effect at once); so does POST /reload on the [admin] API.
            """
    )

    @Option(name: .shortAndLong, help: "The server config file.")
    var config = "server.toml"

    @OptionGroup var options: RunOptions

    func run() async throws {
        MemoryPolicy.apply()
        let configuration = try ConfigFile.load(self.config, ServerConfig.parse(bytes:file:environment:))
        let logger = LineLogHandler.bootstrap(level: self.options.logLevel, label: "server")
        // Metrics are kept for /metrics on the admin API: without one, there is nobody to read them.
        let metrics = PrometheusExport()
        let server = TunnelServer(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
            metrics: configuration.admin == nil ? NOOPMetricsHandler.instance : metrics.factory
        )
        do {
            try await server.start()
        } catch {
            // The error names what failed: which listener and address, or which TLS file.
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        Signals.onStatusRequest { logger.info("live objects: \(LiveObjects.summary())") }
        let stopped = AsyncStream.makeStream(of: Void.self)
        @Sendable func stop(_ why: String) {
            logger.info("\(why): stopping")
            Task {
                await server.stop()
                stopped.continuation.finish()
            }
        }
        Signals.onTermination(stop)
        let admin = AdminAPI<ServerConfig>(
            file: self.config, parse: { try ServerConfig.parse(bytes: $0, file: $1, environment: $2) },
            adapt: { try server.adapt(to: $0) },
            reload: { try await server.reload(to: $0) },
            now: { server.configuration.redactedTOML },
            status: { await server.status() },
            metrics: metrics,
            stop: { stop("admin API /stop") },
            logger: logger
        )
        let api = try await admin.start(configuration.admin, onFailure: { await server.stop() })
        for await _ in stopped.stream {}
        await api?.close()
    }
}
