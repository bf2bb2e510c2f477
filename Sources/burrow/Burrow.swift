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
            """,
        version: BurrowVersion.current,
        subcommands: [ServerCommand.self, ClientCommand.self, CheckCommand.self, TokenCommand.self, FingerprintCommand.self, DemoCommand.self]
    )
}
