import ArgumentParser
import BurrowConfig
import BurrowServer
import BurrowMux
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
            SIGUSR1 logs how many sessions and streams are alive.
            """
    )

    @Option(name: .shortAndLong, help: "The server config file.")
    var config = "server.toml"

    @OptionGroup var options: RunOptions

    func run() async throws {
        let configuration = try ConfigFile.load(self.config, ServerConfig.parse(bytes:file:environment:))
        let logger = LineLogHandler.bootstrap(level: self.options.logLevel, label: "server")
        let server = TunnelServer(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        do {
            try await server.start()
        } catch {
            // The error names what failed: which listener and address, or which TLS file.
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        Signals.onStatusRequest { logger.info("live objects: \(LiveObjects.summary())") }
        let stopped = AsyncStream.makeStream(of: Void.self)
        Signals.onTermination { name in
            logger.info("\(name): stopping")
            Task {
                await server.stop()
                stopped.continuation.finish()
            }
        }
        for await _ in stopped.stream {}
    }
}
