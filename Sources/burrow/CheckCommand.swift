import ArgumentParser
import BurrowConfig
import FoundationEssentials

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a server or client config file; print every problem with its key path.",
        discussion: "Exits 0 when the file is valid, 1 otherwise. Array indexes in key paths count from 0."
    )

    @Argument(help: "The config file (server or client: told apart by its keys).")
    var file: String

    func run() throws {
        switch try ConfigFile.load(self.file, AnyConfig.parse(bytes:file:environment:)) {
        case .server(let server):
            print("\(self.file): valid server config: clients connect to \(server.bind); \(server.tokens.count) token(s): "
                + server.tokens.map { "\($0.name) (ports \($0.ports))" }.joined(separator: ", "))
        case .client(let client):
            print("\(self.file): valid client config: \(client.name) dials \(client.server); \(client.proxies.count) proxy(ies): "
                + client.proxies.map { proxy in
                    let local = proxy.webSocket.map { $0.url.description } ?? proxy.local.description
                    let remote = proxy.remotePort.map(String.init) ?? "any port"
                    return switch proxy.type {
                    case .tcp: "\(proxy.name) \(local) -> \(remote)"
                    case .udp: "\(proxy.name) udp \(local) -> \(remote)"
                    case .websocket: "\(proxy.name) \(local) -> \(remote) (websocket visitors on \(proxy.webSocketVisitors.path))"
                    }
                }.joined(separator: ", "))
        }
    }
}
