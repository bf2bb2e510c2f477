import ArgumentParser
import BurrowClient
import BurrowConfig
import Logging
import NIOCore
import NIOPosix

/// `burrow bridge`: the conversion at a proxy's ends, with no tunnel.
struct BridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Convert between TCP and WebSocket on this machine, with no tunnel (like websockify or websocat).",
        discussion: """
            Each connection accepted on --listen gets its own connection to --to. Bytes, half-closes and \
            resets pass as through a proxy; WebSocket messages (binary or text) become bytes, and bytes \
            leave as binary messages (or text, with --message text).

            TCP clients to a WebSocket service:
              burrow bridge --listen 127.0.0.1:8082 --to ws://127.0.0.1:8081/path
              burrow bridge --listen 127.0.0.1:8082 --to wss://console.lan/socket --ca lan-ca.pem --header "Origin: https://console.lan"

            Browsers (WebSocket clients) to a TCP service, e.g. noVNC to a VNC server:
              burrow bridge --listen ws://127.0.0.1:8081/path --to 127.0.0.1:5900
            """
    )

    @Option(help: ArgumentHelp("What to accept: HOST:PORT (TCP) or ws://HOST:PORT/PATH (WebSocket upgrades on PATH).", valueName: "address"))
    var listen: String

    @Option(help: ArgumentHelp("Where each connection goes: HOST:PORT (TCP), ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH.", valueName: "address"))
    var to: String

    @Option(name: .customLong("header"), help: ArgumentHelp("An extra header on the upgrade to a ws:// or wss:// target, as \"Name: value\" (repeatable).", valueName: "header"))
    var headers: [String] = []

    @Option(help: ArgumentHelp("For a wss:// target: trust this PEM file of CA certificates instead of the system store.", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("For a wss:// target: pin the certificate's SHA-256 (as `burrow fingerprint` prints).", valueName: "sha256"))
    var fingerprint: String?

    @Option(help: ArgumentHelp("For a wss:// target: the name to verify when it differs from the URL's host.", valueName: "name"))
    var serverName: String?

    @Option(help: "For a ws:// listener: send the target's bytes as binary or text messages.")
    var message: MessageKind = .binary

    @Option(help: ArgumentHelp("Dialing the target (and its WebSocket upgrade) may take this long; a visitor's upgrade too.", valueName: "duration"))
    var connectTimeout = "5s"

    @OptionGroup var options: RunOptions

    enum MessageKind: String, ExpressibleByArgument, CaseIterable {
        case binary, text
    }

    func validate() throws {
        _ = try self.parse()
    }

    func run() async throws {
        MemoryPolicy.apply()
        let (listen, target, timeout) = try self.parse()
        let logger = LineLogHandler.bootstrap(level: self.options.logLevel, label: "bridge")
        let converter = try await Converter.start(
            listen: listen, target: target, connectTimeout: timeout, group: MultiThreadedEventLoopGroup.singleton, logger: logger
        )
        let bound = converter.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        logger.info("bridging \(listen) (bound \(bound)) to \(self.to)")
        Signals.onTermination { name in
            logger.info("\(name): stopping")
            Task { await converter.close() }
        }
        try await converter.closeFuture.get()
    }

    /// The listener, the target and the timeout, or a usage error naming the option.
    private func parse() throws -> (Converter.Listen, Converter.Target, TimeAmount) {
        guard let timeout = Duration.parse(self.connectTimeout) else {
            throw ValidationError("--connect-timeout: expected a duration from 1ms to 24h such as \"5s\" or \"500ms\", got \"\(self.connectTimeout)\"")
        }
        return (try self.parseListen(), try self.parseTarget(), TimeAmount(timeout))
    }

    private func parseListen() throws -> Converter.Listen {
        if let endpoint = Endpoint(parsing: self.listen) {
            guard self.message == .binary else { throw ValidationError("--message applies to a ws:// listener only") }
            return .tcp(endpoint)
        }
        if self.listen.hasPrefix("wss://") {
            throw ValidationError("--listen: a wss:// listener needs a certificate: put nginx or a CDN in front of a ws:// one")
        }
        // ws://HOST:PORT/PATH, where PORT may be 0 (the OS picks; the log line says which).
        let rest = self.listen.hasPrefix("ws://") ? self.listen.dropFirst(5) : ""
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let path = rest[slash...].isEmpty ? "/" : String(rest[slash...])
        guard let endpoint = Endpoint(parsing: String(rest[..<slash])), WebSocketVisitors.isValidPath(path) else {
            throw ValidationError("--listen: expected HOST:PORT or ws://HOST:PORT/PATH, got \"\(self.listen)\"")
        }
        return .webSocket(endpoint, path: path, textMessages: self.message == .text)
    }

    private func parseTarget() throws -> Converter.Target {
        let tlsOptions = [("--ca", self.ca), ("--fingerprint", self.fingerprint), ("--server-name", self.serverName)].filter { $0.1 != nil }
        if let endpoint = Endpoint(parsing: self.to) {
            guard endpoint.port > 0 else { throw ValidationError("--to: port 0 is not a service port") }
            if let option = (self.headers.isEmpty ? [] : ["--header"]).first ?? tlsOptions.first?.0 {
                throw ValidationError("\(option) applies to a ws:// or wss:// target only")
            }
            return .tcp(endpoint)
        }
        guard let url = ServerAddress(parsing: self.to), url.scheme.isWebSocket else {
            throw ValidationError("--to: expected HOST:PORT, ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH, got \"\(self.to)\"")
        }
        var service = ClientConfig.WebSocketService(url: url)
        for header in self.headers {
            guard let colon = header.firstIndex(of: ":") else {
                throw ValidationError("--header: expected \"Name: value\", got \"\(header)\"")
            }
            let name = String(header[..<colon]).trimmingSpaces, value = String(header[header.index(after: colon)...]).trimmingSpaces
            if let problem = ClientConfig.WebSocketHeader.problem(name: name, value: value) { throw ValidationError("--header: \(problem)") }
            service.headers.append(.init(name: name, value: value))
        }
        if let option = tlsOptions.first?.0, url.scheme != .wss {
            throw ValidationError("\(option) applies to a wss:// target only")
        }
        if self.ca != nil, self.fingerprint != nil { throw ValidationError("give either --ca or --fingerprint, not both") }
        service.tls.certificateAuthority = self.ca
        service.tls.serverName = self.serverName
        if let text = self.fingerprint {
            guard let pin = ClientConfig.parseFingerprint(text) else {
                throw ValidationError("--fingerprint: expected \"sha256:\" and 64 hex digits (as `burrow fingerprint FILE` prints), got \"\(text)\"")
            }
            service.tls.fingerprint = pin
        }
        return .webSocket(service)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
