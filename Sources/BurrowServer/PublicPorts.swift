import BurrowConfig
import BurrowCore
import BurrowProtocol
import BurrowTransport
import Logging
import NIOCore

/// One session's proxies on the server: the public ports it holds, opened on the client's
/// request within its token's rule, closed on request or when the session ends. The control
/// conversation asks; this decides and keeps the listeners.
actor PublicPorts {
    /// Bridges a TCP visitor of `proxy` to a stream of the session, counting into `meter`.
    typealias Bridge = @Sendable (_ visitor: Channel, _ peer: PeerAddress, _ proxy: String, _ meter: ProxyMeter) -> EventLoopFuture<Void>
    /// Opens the stream of a UDP flow of `proxy` (one visitor address).
    typealias OpenFlow = @Sendable (_ visitor: SocketAddress, _ proxy: String) -> EventLoopFuture<Channel>

    /// An open proxy: its public port, and the meter its visitors count into.
    private struct Open {
        let listener: any PublicListener
        let meter: ProxyMeter
    }

    private let environment: ServerEnvironment
    /// The session's event loop: its public listeners and their visitors run there.
    private let loop: EventLoop
    private let bridge: Bridge
    private let openFlow: OpenFlow
    private var listeners: [String: Open] = [:]
    /// The session ended: a listener bound after this is closed at once.
    private var closed = false

    init(environment: ServerEnvironment, loop: EventLoop, bridge: @escaping Bridge, openFlow: @escaping OpenFlow) {
        self.environment = environment
        self.loop = loop
        self.bridge = bridge
        self.openFlow = openFlow
    }

    /// Every open proxy, its port and its traffic, by name.
    var all: [(proxy: String, key: SessionRegistry.PortKey, traffic: ProxyMeter.Snapshot)] {
        self.listeners.map { ($0.key, $0.value.listener.key, $0.value.meter.snapshot) }.sorted { $0.proxy < $1.proxy }
    }

    func port(of proxy: String) -> Int? {
        self.listeners[proxy]?.listener.key.port
    }

    /// Opens a proxy's public port, or says why not.
    func open(_ request: ControlMessage.OpenProxy, client: String, rule: ServerConfig.TokenRule, logger: Logger) async -> ControlMessage {
        let reject = { (code: ControlMessage.ProxyRejected.Code, reason: String) -> ControlMessage in
            logger.warning("proxy \(request.name) of client \(client) rejected: \(reason)")
            return .proxyRejected(.init(name: request.name, code: code, reason: reason))
        }
        guard Name.isValid(request.name) else {
            return reject(.unsupportedType, "a proxy name must be \(Name.rule)")
        }
        guard let type = ProxyType(rawValue: request.type) else {
            return reject(.unsupportedType, "proxy type \(String(reflecting: String(request.type.prefix(20)))) is not supported by this server")
        }
        let transport: SessionRegistry.PortKey.Transport = type == .udp ? .udp : .tcp
        let udp = UDPFlowSettings(
            idleTimeout: .milliseconds(min(max(request.idleTimeoutMilliseconds ?? 60_000, 1), 86_400_000)),
            maximumFlows: min(max(request.maxFlows ?? 4096, 1), 1_000_000)
        )
        var webSocket: WebSocketVisitors?
        if type == .websocket {
            let path = request.path ?? "/"
            guard WebSocketVisitors.isValidPath(path) else {
                return reject(.unsupportedType, "a websocket proxy's path must start with /, without spaces, at most 1,024 bytes")
            }
            guard [nil, "binary", "text"].contains(request.message) else {
                return reject(.unsupportedType, "a websocket proxy's message must be \"binary\" or \"text\"")
            }
            webSocket = WebSocketVisitors(
                path: path, textMessages: request.message == "text",
                idleTimeout: request.idleTimeoutMilliseconds.map { .milliseconds(min(max($0, 1), 86_400_000)) }
            )
        }
        guard self.listeners[request.name] == nil else {
            return reject(.duplicateName, "a proxy named \(request.name) is already open in this session")
        }
        let owner = SessionRegistry.Owner(client: client, proxy: request.name)
        let host = self.environment.proxyBindHost
        if let port = request.remotePort {
            guard rule.ports.contains(port) else {
                return reject(.notAllowed, "port \(port) is not allowed for token \(rule.name) (allowed: \(rule.ports))")
            }
            let key = SessionRegistry.PortKey(transport, port)
            if let current = await self.environment.registry.reserve(key, for: owner) {
                return reject(.portInUse, "\(key) is in use by \(current)")
            }
            do {
                try await self.listen(on: key, proxy: request.name, client: client, udp: udp, webSocket: webSocket, logger: logger)
            } catch {
                await self.environment.registry.release(key)
                return reject(.bindFailed, "cannot listen on \(key): \(ErrorText.explain(error))")
            }
            logger.info("proxy \(request.name) of client \(client): listening on \(host):\(port)\(Self.kind(type, webSocket))")
            return .proxyOpened(.init(name: request.name, remotePort: port))
        }
        // No port asked for: the first of the token's ports that is free here.
        var lastFailure = ""
        for port in rule.ports.ports {
            let key = SessionRegistry.PortKey(transport, port)
            guard await self.environment.registry.reserve(key, for: owner) == nil else { continue }
            do {
                try await self.listen(on: key, proxy: request.name, client: client, udp: udp, webSocket: webSocket, logger: logger)
            } catch {
                await self.environment.registry.release(key)
                lastFailure = "; \(key): \(ErrorText.explain(error))"
                continue
            }
            logger.info("proxy \(request.name) of client \(client): listening on \(host):\(port)\(Self.kind(type, webSocket)) (picked by the server)")
            return .proxyOpened(.init(name: request.name, remotePort: port))
        }
        return reject(.noFreePort, "no free port left among token \(rule.name)'s ports (\(rule.ports))\(lastFailure)")
    }

    /// How a port's log line names what it listens for, past plain TCP.
    private static func kind(_ type: ProxyType, _ webSocket: WebSocketVisitors?) -> String {
        switch type {
        case .tcp: ""
        case .udp: " (udp)"
        case .websocket: " (websocket, path \(webSocket?.path ?? "/"))"
        }
    }

    /// Binds a public listener whose visitors (TCP connections, UDP flows) become streams of
    /// the session.
    private func listen(
        on key: SessionRegistry.PortKey, proxy: String, client: String, udp: UDPFlowSettings, webSocket: WebSocketVisitors?,
        logger: Logger
    ) async throws {
        let host = self.environment.proxyBindHost
        let meter = self.environment.metrics.proxyMeter(client: client, proxy: proxy)
        let listener: any PublicListener
        // A port that cannot be bound takes its series with it.
        do {
            switch key.transport {
            case .tcp:
                let bridge = self.bridge
                // A websocket proxy's visitors upgrade on its path first; their text messages are
                // bytes too, and the service's bytes go back as the messages the proxy asked for.
                let transport = webSocket.map {
                    ListenerTransport(
                        webSocketPath: $0.path,
                        webSocketOptions: WebSocketStreamOptions(acceptsText: true, sendsText: $0.textMessages, idleTimeout: $0.idleTimeout.map(TimeAmount.init)),
                        webSocketPage: "This is a WebSocket endpoint: connect to ws://HOST:PORT\($0.path) with a WebSocket client.\n"
                    )
                } ?? ListenerTransport()
                // A visitor must finish its upgrade as a client must its login.
                let upgradeTimeout = TimeAmount(self.environment.configuration.handshakeTimeout)
                listener = try await TCPPublicListener.bind(
                    host: host, port: key.port, on: self.loop, transport: transport, upgradeTimeout: upgradeTimeout
                ) { visitor, peer in
                    bridge(visitor, peer, proxy, meter)
                } onNote: { peer, note in
                    logger.info("proxy \(proxy) of client \(client): visitor \(peer): \(note)")
                }
            case .udp:
                let openFlow = self.openFlow
                listener = try await UDPPublicListener.bind(
                    host: host, port: key.port, on: self.loop, settings: udp, label: "proxy \(proxy) of client \(client)", logger: logger,
                    meter: meter
                ) { visitor in openFlow(visitor, proxy) }
            }
        } catch {
            meter.destroy()
            throw error
        }
        guard !self.closed else {
            await listener.close()
            meter.destroy()
            throw BurrowError(.controlClosed, "session closed")
        }
        self.listeners[proxy] = Open(listener: listener, meter: meter)
    }

    /// Closes an open proxy: its port is freed and its series leave the metrics.
    private func shut(_ open: Open) async {
        await open.listener.close()
        await self.environment.registry.release(open.listener.key)
        open.meter.destroy()
    }

    /// Closes one proxy's listener and frees its port; returns the port.
    func close(_ proxy: String) async -> Int? {
        guard let open = self.listeners.removeValue(forKey: proxy) else { return nil }
        await self.shut(open)
        return open.listener.key.port
    }

    /// Closes the listeners on ports outside `allowed` (a token's ports shrank); returns each
    /// proxy and its port.
    func closeAll(notIn allowed: PortSet) async -> [(proxy: String, port: Int)] {
        var closed: [(proxy: String, port: Int)] = []
        for (proxy, open) in self.listeners.sorted(by: { $0.key < $1.key }) where !allowed.contains(open.listener.key.port) {
            self.listeners[proxy] = nil
            await self.shut(open)
            closed.append((proxy, open.listener.key.port))
        }
        return closed
    }

    /// Closes every listener, for good; returns their ports.
    func closeAll() async -> [Int] {
        self.closed = true
        let all = self.listeners.values
        self.listeners.removeAll()
        for open in all { await self.shut(open) }
        return all.map(\.listener.key.port).sorted()
    }

    /// "closed port 6000" or "closed ports 6000, 6001".
    static func closedPorts(_ ports: [Int]) -> String {
        "closed port\(ports.count == 1 ? "" : "s") \(ports.map(String.init).joined(separator: ", "))"
    }
}
