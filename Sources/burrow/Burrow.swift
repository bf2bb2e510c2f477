import ArgumentParser
import BurrowCore

@main
struct Burrow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burrow",
        abstract: "Publish services behind NAT on a public server, through one multiplexed connection.",
        discussion: """
            On the public machine:  burrow server -c server.toml
            Next to the services:   burrow client -c client.toml
            Try it all on loopback: burrow demo
            TCP <-> WebSocket here: burrow bridge --listen 127.0.0.1:8082 --to ws://127.0.0.1:8081/path
            """,
        version: BurrowVersion.current,
        subcommands: [
            ServerCommand.self, ClientCommand.self, CheckCommand.self, ReloadCommand.self, StatusCommand.self, BridgeCommand.self, TokenCommand.self,
            FingerprintCommand.self, DemoCommand.self,
        ]
    )
}
