import ArgumentParser
import BurrowConfig
import BurrowTransport
import NIOCore
import NIOPosix

/// `burrow reload` and `burrow status`: ask a running server or client, through the admin API
/// that its config file's `[admin]` names.
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Tell the running server or client to reload its config file (as SIGHUP does) and print what changed.",
        discussion: "Talks to the admin API named by the file's [admin] table (bind, token). Exits 1 when the file has problems (nothing changes) or the API cannot be reached."
    )

    @Option(name: .shortAndLong, help: "The config file of the running process (server or client).")
    var config: String

    func run() async throws {
        try await AdminClient.call(config: self.config, method: "POST", path: "/reload")
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print what the running server or client reports: sessions, proxies and ports (JSON).",
        discussion: "Talks to the admin API named by the file's [admin] table (bind, token)."
    )

    @Option(name: .shortAndLong, help: "The config file of the running process (server or client).")
    var config: String

    func run() async throws {
        try await AdminClient.call(config: self.config, method: "GET", path: "/status")
    }
}

/// One request to the admin API of the process that runs `config`; prints the answer's body,
/// and exits 1 when it is not 200 or no one answers.
enum AdminClient {
    static func call(config file: String, method: String, path: String) async throws {
        let admin: AdminSettings? = switch try ConfigFile.load(file, AnyConfig.parse(bytes:file:environment:)) {
        case .server(let server): server.admin
        case .client(let client): client.admin
        }
        guard let admin else {
            Output.error("burrow: \(file) has no [admin] table: the admin API is off (add [admin] bind = \"127.0.0.1:7400\" and restart)\n")
            throw ExitCode(1)
        }
        let host = admin.bind.host == "0.0.0.0" ? "127.0.0.1" : admin.bind.host == "::" ? "::1" : admin.bind.host
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(admin.bind)\r\nContent-Length: 0\r\nConnection: close\r\n"
        if let token = admin.token { request += "Authorization: Bearer \(token.value)\r\n" }
        request += "\r\n"
        let answer: String
        do {
            answer = try await Self.exchange(host: host, port: admin.bind.port, request: request)
        } catch {
            Output.error("burrow: cannot reach the admin API at \(admin.bind): \(ErrorText.explain(error)) (is the process running with this config?)\n")
            throw ExitCode(1)
        }
        let (head, body) = answer.split(separator: "\r\n\r\n", maxSplits: 1).map(String.init).splitPair
        let status = head.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        if status == 200 {
            Output.out(body)
        } else {
            Output.error("burrow: \(method) \(path) answered \(status): \(body)")
            throw ExitCode(1)
        }
    }

    /// Sends `request` and reads the whole answer (the server closes after it).
    private static func exchange(host: String, port: Int, request: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var answer = ByteBuffer()
            for try await var chunk in inbound { answer.writeBuffer(&chunk) }
            return String(buffer: answer)
        }
    }
}

extension Array where Element == String {
    /// The first two elements ("" for a missing one).
    fileprivate var splitPair: (String, String) { (self.first ?? "", self.count > 1 ? self[1] : "") }
}
