import BurrowConfig
import BurrowMux
import BurrowProtocol
import BurrowTransport
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// What every session of one server shares.
struct ServerEnvironment: Sendable {
    let configuration: ServerConfig
    let registry: SessionRegistry
    let logger: Logger
    /// Where public ports listen.
    let proxyBindHost: String
}

/// One client's connection to the server: its mux, its control conversation (login, proxies)
/// and its public listeners. Everything but the control conversation lives on the connection's
/// event loop; public listeners and their visitors share that loop, so a visitor is glued to
/// its stream without a hop.
final class ServerSession: @unchecked Sendable {
    let channel: Channel
    /// "1.2.3.4:5678", for logs before the client has a name.
    let peer: String
    private let environment: ServerEnvironment
    private let mux: NIOLoopBound<MuxSessionHandler>
    private let controlPromise: EventLoopPromise<ControlChannel>
    private let monitor: SessionMonitor
    private let loggedIn = Atomic(false)

    /// Public listeners by proxy name. Event-loop confined.
    private var listeners: [String: (port: Int, channel: Channel)] = [:]
    /// The control stream once open. Event-loop confined.
    private var controlStream: Channel?
    private var logger: Logger

    /// Installs the session on a connection that sent a valid preamble. Call on its event loop.
    static func install(on channel: Channel, environment: ServerEnvironment, forwardedFor: String? = nil) throws -> ServerSession {
        let controlPromise = channel.eventLoop.makePromise(of: ControlChannel.self)
        let controlTaken = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
        var configuration = MuxConfiguration(role: .acceptor)
        configuration.keepAliveInterval = TimeAmount.nanoseconds(environment.configuration.heartbeatInterval.nanoseconds)
        // The client's first stream is the control stream; it never opens another.
        let mux = MuxSessionHandler(configuration: configuration) { stream in
            guard !controlTaken.value else {
                return stream.eventLoop.makeFailedFuture(ControlProtocolError(description: "client opened a second stream"))
            }
            controlTaken.value = true
            return stream.eventLoop.makeCompletedFuture {
                controlPromise.succeed(try ControlChannel.wrapping(stream))
            }
        }
        let monitor = SessionMonitor()
        try channel.pipeline.syncOperations.addHandlers(mux, monitor)
        let session = ServerSession(
            channel: channel, peer: describePeer(channel, forwardedFor: forwardedFor), environment: environment,
            mux: mux, control: controlPromise, monitor: monitor
        )
        channel.closeFuture.whenComplete { _ in
            controlPromise.fail(ControlProtocolError(description: "connection closed before the control stream opened"))
        }
        controlPromise.futureResult.whenSuccess { session.controlStream = $0.channel }
        session.armLoginTimeout()
        return session
    }

    private init(
        channel: Channel, peer: String, environment: ServerEnvironment, mux: MuxSessionHandler,
        control: EventLoopPromise<ControlChannel>, monitor: SessionMonitor
    ) {
        self.channel = channel
        self.peer = peer
        self.environment = environment
        self.mux = NIOLoopBound(mux, eventLoop: channel.eventLoop)
        self.controlPromise = control
        self.monitor = monitor
        self.logger = environment.logger
        self.logger[metadataKey: "peer"] = "\(self.peer)"
        Self.live.increment()
    }

    deinit { Self.live.decrement() }

    static let live = LiveObjects("ServerSession")

    /// A client that has not logged in within the handshake timeout is dropped.
    private func armLoginTimeout() {
        let timeout = self.environment.configuration.handshakeTimeout
        self.channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            guard !self.loggedIn.load(ordering: .relaxed), self.channel.isActive else { return }
            self.logger.info("client \(self.peer) did not log in within \(timeout.shortDescription): closed")
            self.channel.close(promise: nil)
        }
    }

    // MARK: - The control conversation

    /// Runs the session to its end: login, then proxy requests until the client goes.
    func run() async {
        var registration: SessionRegistry.Key?
        var refused = false
        do {
            let control = try await self.controlPromise.futureResult.get()
            try await control.executeThenClose { inbound, outbound in
                var messages = inbound.makeAsyncIterator()
                guard let (key, rule) = try await self.login(&messages, outbound) else {
                    refused = true
                    return
                }
                registration = key
                try await self.serveRequests(&messages, outbound, client: key.client, rule: rule)
            }
        } catch {
            self.monitor.note(error, on: self.channel.eventLoop)
        }
        try? await self.channel.close()
        let closed = await self.closeAllListeners()
        if let key = registration {
            await self.environment.registry.unregister(self, for: key)
            let cause = await self.monitor.cause(on: self.channel.eventLoop)
            let ports = closed.isEmpty ? "" : "; closed port\(closed.count == 1 ? "" : "s") \(closed.map(String.init).joined(separator: ", "))"
            self.logger.info("client \(key.client) disconnected (\(cause))\(ports)")
        } else if !refused {
            let cause = await self.monitor.cause(on: self.channel.eventLoop)
            self.logger.info("connection from \(self.peer) closed before login (\(cause))")
        }
    }

    /// Challenge, login, verification. Returns nil when the login was refused (already
    /// answered and logged).
    private func login(
        _ messages: inout NIOAsyncChannelInboundStream<ControlMessage>.AsyncIterator,
        _ outbound: NIOAsyncChannelOutboundWriter<ControlMessage>
    ) async throws -> (SessionRegistry.Key, ServerConfig.TokenRule)? {
        let serverNonce = LoginProof.makeNonce()
        try await outbound.write(.challenge(.init(nonce: serverNonce, serverVersion: BurrowVersion.current)))
        guard case .login(let login) = try await messages.next(expecting: "login") else {
            try await self.refuse(outbound, .badRequest, "expected a login message first", log: "client \(self.peer) sent something other than a login: closed")
            return nil
        }
        let rule = self.environment.configuration.tokens.first { LoginProof.tokenHint($0.token.value) == login.tokenHint }
        guard let rule else {
            try await self.refuse(outbound, .authenticationFailed, "authentication failed: unknown token",
                                  log: "authentication failed for client \(login.name) from \(self.peer): unknown token")
            return nil
        }
        let expected = LoginProof.clientProof(token: rule.token.value, serverNonce: serverNonce, clientNonce: login.clientNonce, name: login.name)
        guard LoginProof.matches(login.proof, expected: expected) else {
            try await self.refuse(outbound, .authenticationFailed, "authentication failed: wrong proof for the token",
                                  log: "authentication failed for client \(login.name) from \(self.peer): wrong proof for token \(rule.name) (wrong token, or a replayed login)")
            return nil
        }
        let key = SessionRegistry.Key(token: rule.name, client: login.name)
        if let existing = await self.environment.registry.register(self, for: key) {
            guard await !existing.isAlive(within: .seconds(3)) else {
                try await self.refuse(outbound, .alreadyConnected, "client \(login.name) is already connected from \(existing.peer)",
                                      log: "client \(login.name) from \(self.peer) refused: already connected from \(existing.peer)")
                return nil
            }
            self.logger.info("client \(login.name): previous session from \(existing.peer) did not answer a ping: replaced")
            try? await existing.channel.close()
            guard await self.environment.registry.replace(existing, with: self, for: key) else {
                try await self.refuse(outbound, .alreadyConnected, "client \(login.name) is already connected", log: "client \(login.name) from \(self.peer) refused: already connected")
                return nil
            }
        }
        self.loggedIn.store(true, ordering: .relaxed)
        let sessionID = UInt64.random(in: 1 ... .max)
        let serverProof = LoginProof.serverProof(token: rule.token.value, serverNonce: serverNonce, clientNonce: login.clientNonce, name: login.name)
        let heartbeat = Int(self.environment.configuration.heartbeatInterval.milliseconds)
        try await outbound.write(.loginOK(.init(sessionID: sessionID, heartbeatMilliseconds: heartbeat, serverProof: serverProof)))
        self.logger[metadataKey: "client"] = "\(login.name)"
        self.logger.info("client \(login.name) logged in from \(self.peer) with token \(rule.name) (version \(login.version))")
        return (key, rule)
    }

    private func refuse(
        _ outbound: NIOAsyncChannelOutboundWriter<ControlMessage>, _ code: ControlMessage.LoginError.Code, _ message: String, log: String
    ) async throws {
        self.logger.warning("\(log)")
        try await outbound.write(.loginError(.init(code: code, message: message)))
    }

    /// Proxy requests until the control stream ends.
    private func serveRequests(
        _ messages: inout NIOAsyncChannelInboundStream<ControlMessage>.AsyncIterator,
        _ outbound: NIOAsyncChannelOutboundWriter<ControlMessage>,
        client: String, rule: ServerConfig.TokenRule
    ) async throws {
        while let message = try await messages.next() {
            switch message {
            case .openProxy(let request):
                try await outbound.write(await self.open(request, client: client, rule: rule))
            case .closeProxy(let request):
                if let port = await self.closeListener(request.name) {
                    self.logger.info("proxy \(request.name) of client \(client): closed port \(port)")
                }
            default:
                throw ControlProtocolError(description: "unexpected control message from client \(client): \(message)")
            }
        }
    }

    // MARK: - Proxies

    /// Opens a proxy's public port, or says why not.
    private func open(_ request: ControlMessage.OpenProxy, client: String, rule: ServerConfig.TokenRule) async -> ControlMessage {
        let reject = { (reason: String) -> ControlMessage in
            self.logger.warning("proxy \(request.name) of client \(client) rejected: \(reason)")
            return .proxyRejected(.init(name: request.name, reason: reason))
        }
        guard request.type == ProxyType.tcp.rawValue else {
            return reject("proxy type \"\(request.type)\" is not supported by this server")
        }
        guard await self.listenerPort(request.name) == nil else {
            return reject("a proxy named \(request.name) is already open in this session")
        }
        let owner = SessionRegistry.Owner(client: client, proxy: request.name)
        if let port = request.remotePort {
            guard rule.ports.contains(port) else {
                return reject("port \(port) is not allowed for token \(rule.name) (allowed: \(rule.ports))")
            }
            if let current = await self.environment.registry.reserve(port, for: owner) {
                return reject("port \(port) is in use by \(current)")
            }
            do {
                try await self.listen(on: port, proxy: request.name)
            } catch {
                await self.environment.registry.release(port)
                return reject("cannot listen on port \(port): \(error)")
            }
            self.logger.info("proxy \(request.name) of client \(client): listening on \(self.environment.proxyBindHost):\(port)")
            return .proxyOpened(.init(name: request.name, remotePort: port))
        }
        // No port asked for: the first of the token's ports that is free here.
        for port in rule.ports.ports {
            guard await self.environment.registry.reserve(port, for: owner) == nil else { continue }
            do {
                try await self.listen(on: port, proxy: request.name)
            } catch {
                await self.environment.registry.release(port)
                continue
            }
            self.logger.info("proxy \(request.name) of client \(client): listening on \(self.environment.proxyBindHost):\(port) (picked by the server)")
            return .proxyOpened(.init(name: request.name, remotePort: port))
        }
        return reject("no free port left among token \(rule.name)'s ports (\(rule.ports))")
    }

    /// Binds a public listener whose visitors become streams of this session.
    private func listen(on port: Int, proxy: String) async throws {
        let loop = self.channel.eventLoop
        let listener = try await ServerBootstrap(group: loop, childGroup: loop)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.recvAllocator, value: SocketTuning.receiveAllocator)
            .childChannelInitializer { visitor in self.bridge(visitor, proxy: proxy) }
            .bind(host: self.environment.proxyBindHost, port: port).get()
        let kept = try await loop.submit { () -> Bool in
            guard self.channel.isActive else { return false }
            self.listeners[proxy] = (port, listener)
            return true
        }.get()
        if !kept {
            try? await listener.close()
            throw ControlProtocolError(description: "session closed")
        }
    }

    /// A visitor arrived: open a stream to the client, send the header, glue the two.
    private func bridge(_ visitor: Channel, proxy: String) -> EventLoopFuture<Void> {
        let visitorAddress = visitor.remoteAddress.map(describe) ?? "unknown"
        let logger = self.logger
        return self.mux.value.openStream { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                let header = try MessageFraming.encode(VisitorHeader(proxy: proxy, visitorAddress: visitorAddress), allocator: stream.allocator)
                stream.writeAndFlush(header, promise: nil)
                try GlueHandler.glue(stream, visitor)
                logger.debug("visitor \(visitorAddress) for proxy \(proxy)")
            }
        }.map { _ in }.flatMapErrorThrowing { error in
            logger.info("visitor \(visitorAddress) for proxy \(proxy) turned away: \(error)")
            throw error
        }
    }

    private func listenerPort(_ proxy: String) async -> Int? {
        try? await self.channel.eventLoop.submit { self.listeners[proxy]?.port }.get()
    }

    /// Closes one proxy's listener and frees its port; returns the port.
    private func closeListener(_ proxy: String) async -> Int? {
        guard let entry = try? await self.channel.eventLoop.submit({ self.listeners.removeValue(forKey: proxy) }).get() else { return nil }
        try? await entry.channel.close()
        await self.environment.registry.release(entry.port)
        return entry.port
    }

    /// Closes every listener of the session; returns their ports.
    private func closeAllListeners() async -> [Int] {
        let all = (try? await self.channel.eventLoop.submit { () -> [(port: Int, channel: Channel)] in
            defer { self.listeners.removeAll() }
            return Array(self.listeners.values)
        }.get()) ?? []
        for entry in all {
            try? await entry.channel.close()
            await self.environment.registry.release(entry.port)
        }
        return all.map(\.port).sorted()
    }

    // MARK: - Liveness and shutdown

    /// Whether the client answers a ping within `timeout`.
    func isAlive(within timeout: TimeAmount) async -> Bool {
        guard self.channel.isActive else { return false }
        let loop = self.channel.eventLoop
        let mux = self.mux
        let answered = loop.makePromise(of: Bool.self)
        loop.execute {
            mux.value.ping().whenComplete { answered.succeed((try? $0.get()) != nil) }
            loop.scheduleTask(in: timeout) { answered.succeed(false) }
        }
        return (try? await answered.futureResult.get()) ?? false
    }

    /// Graceful stop: stop taking visitors, tell the client GoAway, let open streams finish.
    /// Ending the control stream too lets the session drain: the client answers with its own
    /// FIN and the session closes once the last visitor stream is done.
    func shutdown() async {
        self.monitor.note(SessionEnded(description: "server stopping"), on: self.channel.eventLoop)
        _ = await self.closeAllListeners()
        let mux = self.mux
        try? await self.channel.eventLoop.submit {
            mux.value.goAway()
            self.controlStream?.close(mode: .output, promise: nil)
        }.get()
    }
}

/// Sits after the mux on a session's channel and remembers why the session ended.
final class SessionMonitor: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Never
    private var lastError: Error?

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.lastError = error
    }

    func note(_ error: Error, on loop: EventLoop) {
        loop.execute { if self.lastError == nil { self.lastError = error } }
    }

    /// Why the session ended, in words.
    func cause(on loop: EventLoop) async -> String {
        (try? await loop.submit { self.lastError.map(Self.explain) ?? "connection closed by the peer" }.get())
            ?? "connection closed by the peer"
    }

    private static func explain(_ error: Error) -> String {
        guard let mux = error as? MuxError else { return "\(error)" }
        switch mux.code {
        case .sessionClosed: return "connection closed by the peer"
        case .keepAliveTimeout: return "\(mux)"
        default: return mux.isSessionError ? "protocol error: \(mux)" : "\(mux)"
        }
    }
}
