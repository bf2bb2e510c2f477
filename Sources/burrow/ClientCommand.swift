import ArgumentParser
import BurrowConfig
import BurrowTransport
import BurrowClient
import BurrowMux
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

            Exits 2 when the server refuses the token (unless [reconnect] retry_on_auth_failure = true), 1 on a bad config.
            """
    )

    @Option(name: .shortAndLong, help: "The client config file.")
    var config = "client.toml"

    @OptionGroup var options: RunOptions

    func run() async throws {
        let configuration = try ConfigFile.load(self.config, ClientConfig.parse(bytes:file:environment:))
        let logger = LineLogHandler.bootstrap(level: self.options.logLevel, label: "client \(configuration.name)")
        let client = TunnelClient(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        Signals.onStatusRequest { logger.info("live objects: \(LiveObjects.summary())") }
        Signals.onTermination { name in
            logger.info("\(name): stopping")
            client.stop()
        }
        do {
            try await client.run()
        } catch let failure as BurrowError where failure.code == .authenticationFailed {
            Output.error("burrow client: \(failure)\n")
            throw ExitCode(2)
        }
    }
}
