import BurrowConfig
import BurrowCore
import BurrowMux
import BurrowProtocol
import BurrowTransport
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What every session of one server shares.
struct ServerEnvironment: Sendable {
    let configuration: ServerConfig
    /// The tokens now (the configuration's at start).
    let tokens: TokenTable
    let registry: SessionRegistry
    let metrics: ServerMetrics
    /// The last sessions that ended and why, for the dashboard.
    let disconnects: DisconnectLog
    let logger: Logger
    /// Where public ports listen.
    let proxyBindHost: String
}

/// One client's connection to the server: its mux and its control conversation (login, then
/// proxy requests), with its proxies' public ports in `PublicPorts`. Everything but the control
/// conversation lives on the connection's event loop; public listeners and their visitors share
/// that loop, so a visitor is glued to its stream without a hop.
final class ServerSession: @unchecked Sendable {
    let channel: Channel
    /// Who connected, for logs before the client has a name.
    let peer: PeerAddress
    private let environment: ServerEnvironment
    private let mux: NIOLoopBound<MuxSessionHandler>
    private let controlPromise: EventLoopPromise<ControlChannel>
    private let monitor: SessionMonitor
    private let loggedIn = Atomic(false)
    /// Held until the login succeeds or the connection ends: the server's count of connections
    /// that have not logged in.
    private let pendingLogin: PendingLogins.Ticket?
    /// Names the peer. Never changes: once the client has a name, the conversation carries a
    /// logger of its own that names it too.
    private let logger: Logger
    private let ports: PublicPorts
    /// Once logged in: the token's rule (updated by `recheck`) and where to tell the client of
    /// what the server closes on its own.
    private let conversation = NIOLockedValueBox<(rule: ServerConfig.TokenRule, client: String, outbound: ControlOutbound)?>(nil)
    /// When the login succeeded, in seconds since 1970.
    private let loggedInAt = NIOLockedValueBox<Int64?>(nil)
    /// How the client came: tcp, tls, ws or wss. Set once, at install.
    private(set) var transport = "tcp"

    /// The control stream once open. Event-loop confined.
    private var controlStream: Channel?
    /// GoAway was sent: the session closes by itself once its streams are done. Event-loop
    /// confined.
    private var draining = false

    /// Installs the session on a connection that sent a valid preamble. Call on its event loop.
    static func install(
        on channel: Channel, environment: ServerEnvironment, peer: PeerAddress, transport: String = "tcp",
        pendingLogin: PendingLogins.Ticket? = nil
    ) throws -> ServerSession {
        let controlPromise = channel.eventLoop.makePromise(of: ControlChannel.self)
        let controlTaken = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
        // The client's first stream is the control stream; it never opens another.
        let mux = MuxSessionHandler(configuration: .session(role: .acceptor, heartbeat: environment.configuration.heartbeatInterval)) { stream in
            guard !controlTaken.value else {
                return stream.eventLoop.makeFailedFuture(BurrowError(.controlClosed, "client opened a second stream"))
            }
            controlTaken.value = true
            return stream.eventLoop.makeCompletedFuture {
                controlPromise.succeed(try ControlChannel.wrapping(stream))
            }
        }
        let monitor = SessionMonitor()
        try channel.pipeline.syncOperations.addHandlers(mux, monitor)
        let session = ServerSession(
            channel: channel, peer: peer, environment: environment,
            mux: mux, control: controlPromise, monitor: monitor, pendingLogin: pendingLogin
        )
        session.transport = transport
        channel.closeFuture.whenComplete { _ in
            controlPromise.fail(BurrowError(.controlClosed, "connection closed before the control stream opened"))
        }
        controlPromise.futureResult.whenSuccess { session.controlStream = $0.channel }
        monitor.onGoAway = { [weak session] in session?.clientIsGoingAway() }
        session.armLoginTimeout()
        return session
    }

    private init(
        channel: Channel, peer: PeerAddress, environment: ServerEnvironment, mux: MuxSessionHandler,
        control: EventLoopPromise<ControlChannel>, monitor: SessionMonitor, pendingLogin: PendingLogins.Ticket?
    ) {
        let bound = NIOLoopBound(mux, eventLoop: channel.eventLoop)
        var peerLogger = environment.logger
        peerLogger[metadataKey: "peer"] = "\(peer)"
        let logger = peerLogger
        self.channel = channel
        self.peer = peer
        self.environment = environment
        self.mux = bound
        self.controlPromise = control
        self.monitor = monitor
        self.pendingLogin = pendingLogin
        self.logger = logger
        self.ports = PublicPorts(
            environment: environment, loop: channel.eventLoop,
            bridge: { visitor, peer, proxy, meter in Self.bridge(visitor, peer: peer, proxy: proxy, meter: meter, mux: bound, logger: logger) },
            openFlow: { visitor, proxy in Self.openFlow(of: visitor, proxy: proxy, mux: bound) }
        )
        Self.live.increment()
    }

    deinit { Self.live.decrement() }

    static let live = LiveObjects("ServerSession")

    /// A client that has not logged in within the handshake timeout is dropped. The timer
    /// holds the session weakly: a session that ended is not kept for the timeout's length.
    private func armLoginTimeout() {
        let timeout = self.environment.configuration.handshakeTimeout
        let (logger, peer) = (self.environment.logger, self.peer)
        self.channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [weak self] in
            guard let self, !self.loggedIn.load(ordering: .relaxed), self.channel.isActive else { return }
            logger.info("client \(peer) did not log in within \(timeout.shortDescription): closed")
            self.end(cause: "no login within \(timeout.shortDescription)")
        }
    }

    /// Closes the session now, with `cause` as the reason its last log line gives.
    func end(cause: String) {
        self.monitor.note(BurrowError(.sessionEnded, cause), on: self.channel.eventLoop)
        self.channel.close(promise: nil)
    }

    // MARK: - The control conversation

    /// Runs the session to its end: login, then proxy requests until the client goes.
    func run() async {
        var registration: SessionRegistry.Key?
        var logger = self.logger
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
                logger[metadataKey: "client"] = "\(key.client)"
                self.conversation.withLockedValue { $0 = (rule, key.client, outbound) }
                self.loggedInAt.withLockedValue { $0 = Int64(time(nil)) }
                self.environment.metrics.sessions.increment()
                let roundTrip = self.environment.metrics.roundTrip(client: key.client)
                self.monitor.observeRoundTrips(on: self.channel.eventLoop) { roundTrip.record(Double($0.nanoseconds) / 1e9) }
                defer {
                    self.monitor.observeRoundTrips(on: self.channel.eventLoop, nil)
                    roundTrip.destroy()
                    self.environment.metrics.sessions.decrement()
                }
                try await self.serveRequests(&messages, outbound, client: key.client, logger: logger)
            }
        } catch let error as BurrowError where error.code == .protocolViolation {
            self.failProtocol(error)
        } catch let error as MessageFraming.Error {
            self.failProtocol(BurrowError(.protocolViolation, "control stream from \(self.peer): \(error)"))
        } catch {
            self.monitor.note(error, on: self.channel.eventLoop)
        }
        if await self.isDraining {
            // The mux closes the connection once the visitor streams are done.
            try? await self.channel.closeFuture.get()
        } else {
            try? await self.channel.close()
        }
        // Nothing more will be said: let go of the conversation's writer.
        self.conversation.withLockedValue { $0 = nil }
        let closed = await self.ports.closeAll()
        if let key = registration {
            await self.environment.registry.unregister(self, for: key)
            let cause = await self.monitor.cause(on: self.channel.eventLoop)
            let ports = closed.isEmpty ? "" : "; \(PublicPorts.closedPorts(closed))"
            logger.info("client \(key.client) disconnected (\(cause))\(ports)")
            self.environment.disconnects.add(.init(client: key.client, address: "\(self.peer)", cause: cause, at: Int64(time(nil))))
        } else if !refused {
            let cause = await self.monitor.cause(on: self.channel.eventLoop)
            self.logger.info("connection from \(self.peer) closed before login (\(cause))")
        }
    }

    /// Challenge, login, verification. Returns nil when the login was refused (already
    /// answered and logged).
    private func login(_ messages: inout ControlInbound, _ outbound: ControlOutbound) async throws -> (SessionRegistry.Key, ServerConfig.TokenRule)? {
        let serverNonce = LoginProof.makeNonce()
        try await outbound.write(.challenge(.init(nonce: Base64.encode(serverNonce), serverVersion: BurrowVersion.current)))
        let login: ControlMessage.Login
        switch try await messages.next(expecting: "login") {
        case .success(.login(let message)):
            login = message
        case .success(let other):
            return try await self.refuse(outbound, .badRequest, result: .badRequest, "expected a login message first, got \(other.type)",
                                         log: "client \(self.peer) sent \(other.type) instead of a login: closed")
        case .failure(let error):
            return try await self.refuse(outbound, .badRequest, result: .badRequest, "malformed login: \(error)",
                                         log: "client \(self.peer) sent a malformed login (\(error)): closed")
        }
        let checked: (clientNonce: [UInt8], proof: [UInt8])
        switch Self.check(login) {
        case .success(let value):
            checked = value
        case .failure(let problem):
            return try await self.refuse(outbound, .badRequest, result: .badRequest, "malformed login: \(problem)",
                                         log: "client \(self.peer) sent a malformed login (\(problem)): closed")
        }
        let rule = self.environment.tokens.rule { LoginProof.tokenHint($0.token.value) == login.tokenHint }
        guard let rule else {
            return try await self.refuse(outbound, .authenticationFailed, result: .wrongToken, "authentication failed: unknown token",
                                         log: "authentication failed for client \(login.name) from \(self.peer): unknown token")
        }
        let expected = LoginProof.clientProof(token: rule.token.value, serverNonce: serverNonce, clientNonce: checked.clientNonce, name: login.name)
        guard LoginProof.matches(checked.proof, expected: expected) else {
            return try await self.refuse(outbound, .authenticationFailed, result: .replay, "authentication failed: wrong proof for the token",
                                         log: "authentication failed for client \(login.name) from \(self.peer): wrong proof for token \(rule.name) (wrong token, or a replayed login)")
        }
        let key = SessionRegistry.Key(token: rule.name, client: login.name)
        if let existing = await self.environment.registry.register(self, for: key) {
            guard await !existing.isAlive(within: .seconds(3)) else {
                return try await self.refuse(outbound, .alreadyConnected, result: .alreadyConnected, "client \(login.name) is already connected from \(existing.peer)",
                                             log: "client \(login.name) from \(self.peer) refused: already connected from \(existing.peer)")
            }
            self.logger.info("client \(login.name): previous session from \(existing.peer) did not answer a ping: replaced")
            existing.end(cause: "replaced by a new login from \(self.peer)")
            try? await existing.channel.closeFuture.get()
            guard await self.environment.registry.replace(existing, with: self, for: key) else {
                return try await self.refuse(outbound, .alreadyConnected, result: .alreadyConnected, "client \(login.name) is already connected",
                                             log: "client \(login.name) from \(self.peer) refused: already connected")
            }
        }
        self.loggedIn.store(true, ordering: .relaxed)
        self.pendingLogin?.release()
        self.environment.metrics.login(.ok)
        let sessionID = UInt64.random(in: 1 ... .max)
        let serverProof = LoginProof.serverProof(token: rule.token.value, serverNonce: serverNonce, clientNonce: checked.clientNonce, name: login.name)
        let heartbeat = Int(self.environment.configuration.heartbeatInterval.milliseconds)
        try await outbound.write(.loginOK(.init(sessionID: String(sessionID), heartbeatMilliseconds: heartbeat, serverProof: Base64.encode(serverProof))))
        self.logger.info("client \(login.name) logged in from \(self.peer) with token \(rule.name) (version \(String(reflecting: String(login.version.prefix(40)))))")
        return (key, rule)
    }

    /// The login's fields that must have a shape beyond their JSON type, decoded; or the first
    /// problem, naming the field.
    static func check(_ login: ControlMessage.Login) -> Result<(clientNonce: [UInt8], proof: [UInt8]), BurrowError> {
        guard Name.isValid(login.name) else {
            return .failure(BurrowError(.badLogin, "field 'body.name' must be \(Name.rule)"))
        }
        guard let nonce = Base64.decode(login.clientNonce), nonce.count == LoginProof.nonceLength else {
            return .failure(BurrowError(.badLogin, "field 'body.clientNonce' must be \(LoginProof.nonceLength) bytes in base64"))
        }
        guard let proof = Base64.decode(login.proof), proof.count == LoginProof.proofLength else {
            return .failure(BurrowError(.badLogin, "field 'body.proof' must be \(LoginProof.proofLength) bytes in base64"))
        }
        return .success((nonce, proof))
    }


    private func refuse(
        _ outbound: ControlOutbound, _ code: ControlMessage.LoginError.Code, result: ServerMetrics.LoginResult, _ message: String, log: String
    ) async throws -> (SessionRegistry.Key, ServerConfig.TokenRule)? {
        self.logger.warning("\(log)")
        self.environment.metrics.login(result)
        try await outbound.write(.loginError(.init(code: code, message: message)))
        return nil
    }

    /// Proxy requests until the control stream ends. A message type this server does not know
    /// is skipped (a newer client must not lose its session to an older server); a malformed
    /// message, or one only a server sends, ends the session.
    private func serveRequests(
        _ messages: inout ControlInbound, _ outbound: ControlOutbound, client: String, logger: Logger
    ) async throws {
        while let message = try await messages.next(from: "client \(client)", .client, logger: logger) {
            switch message {
            case .openProxy(let request):
                // The rule as it is now: a token's ports may have changed since the login.
                guard let rule = self.conversation.withLockedValue({ $0?.rule }) else { return }
                try await outbound.write(await self.ports.open(request, client: client, rule: rule, logger: logger))
            case .closeProxy(let request):
                let port = await self.ports.close(request.name)
                if let port { logger.info("proxy \(request.name) of client \(client): closed port \(port)") }
                try await outbound.write(.proxyClosed(.init(name: request.name, remotePort: port)))
            case let other:
                throw BurrowError(.protocolViolation, "client \(client) sent \(other.type) after its login")
            }
        }
    }

    /// A UDP visitor's first datagram: open its flow's stream, with the header that names the
    /// proxy and the visitor. Call on the session's event loop.
    private static func openFlow(of visitor: SocketAddress, proxy: String, mux: NIOLoopBound<MuxSessionHandler>) -> EventLoopFuture<Channel> {
        mux.value.openStream { stream in
            stream.eventLoop.makeCompletedFuture {
                let header = try VisitorHeader(proxy: proxy, visitorAddress: visitor.hostAndPort).framed(allocator: stream.allocator)
                stream.writeAndFlush(header, promise: nil)
            }
        }
    }

    /// A visitor arrived: open a stream to the client, send the header, glue the two; the
    /// visitor and its bytes count into the proxy's meter.
    private static func bridge(
        _ visitor: Channel, peer: PeerAddress, proxy: String, meter: ProxyMeter, mux: NIOLoopBound<MuxSessionHandler>, logger: Logger
    ) -> EventLoopFuture<Void> {
        let visitorAddress = peer.address?.hostAndPort ?? "unknown"
        return mux.value.openStream { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                let header = try VisitorHeader(proxy: proxy, visitorAddress: visitorAddress).framed(allocator: stream.allocator)
                stream.writeAndFlush(header, promise: nil)
                try GlueHandler.glue(visitor, stream, meter: meter)
                meter.visitorArrived()
                visitor.closeFuture.whenComplete { _ in meter.visitorLeft() }
                logger.debug("visitor \(visitorAddress) for proxy \(proxy)")
            }
        }.map { _ in }.flatMapErrorThrowing { error in
            logger.info("visitor \(visitorAddress) for proxy \(proxy) turned away: \(error)")
            throw error
        }
    }

    // MARK: - Commands

    /// The server's tokens changed: a session whose token is gone, or has a new secret, ends;
    /// one whose ports shrank loses the proxies on ports no longer allowed (the client hears
    /// `proxyClosed` for each). A session that has not logged in is left alone: its login
    /// reads the new table.
    func recheck(_ tokens: TokenTable) async {
        guard let (rule, client, outbound) = self.conversation.withLockedValue({ $0 }) else { return }
        guard let updated = tokens.rule(where: { $0.name == rule.name }), updated.token == rule.token else {
            self.logger.info("client \(client): token \(rule.name) was revoked: session closed")
            self.end(cause: "token \(rule.name) revoked")
            return
        }
        self.conversation.withLockedValue { $0?.rule = updated }
        for (proxy, port) in await self.ports.closeAll(notIn: updated.ports) {
            self.logger.info("proxy \(proxy) of client \(client): port \(port) is no longer allowed for token \(rule.name): closed")
            try? await outbound.write(.proxyClosed(.init(name: proxy, remotePort: port)))
        }
    }

    /// The session as `/status` shows it; nil before its login or after its end.
    func status() async -> SessionStatus? {
        guard let (rule, client, _) = self.conversation.withLockedValue({ $0 }),
              let since = self.loggedInAt.withLockedValue({ $0 }) else { return nil }
        let proxies = await self.ports.all.map {
            SessionStatus.Proxy(name: $0.proxy, protocol: $0.key.transport.rawValue, port: $0.key.port, traffic: $0.traffic)
        }
        let total = proxies.map(\.traffic).reduce(ProxyMeter.Snapshot(), +)
        // A ping's round trip (none if the client does not answer within a second), and the
        // streams open besides the control stream: TCP visitors and UDP flows.
        let mux = self.mux
        let loop = self.channel.eventLoop
        let answered = loop.makePromise(of: TimeAmount?.self)
        loop.execute {
            mux.value.ping().whenComplete { answered.succeed(try? $0.get()) }
            loop.scheduleTask(in: .seconds(1)) { answered.succeed(nil) }
        }
        let roundTrip = (try? await answered.futureResult.get()) ?? nil
        let streams = (try? await loop.submit { mux.value.streamCount }.get()) ?? 1
        return SessionStatus(
            client: client, token: rule.name, address: "\(self.peer)", transport: self.transport, since: since,
            roundTripMicroseconds: roundTrip.map { $0.nanoseconds / 1000 }, visitors: max(0, streams - 1),
            bytesIn: total.bytesIn, bytesOut: total.bytesOut, proxies: proxies
        )
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
        self.monitor.note(BurrowError(.sessionEnded, "server stopping"), on: self.channel.eventLoop)
        _ = await self.ports.closeAll()
        try? await self.channel.eventLoop.submit { self.drain(control: .finish) }.get()
    }

    /// The client sent GoAway: it takes no new visitors. Its public ports close, the control
    /// conversation ends (reset: nothing more will be said) and the session closes once the
    /// visitor streams are done. Runs on the event loop.
    private func clientIsGoingAway() {
        self.monitor.note(BurrowError(.sessionEnded, "client went away"), on: self.channel.eventLoop)
        self.drain(control: .reset)
        Task {
            let closed = await self.ports.closeAll()
            let ports = closed.isEmpty ? "" : "\(PublicPorts.closedPorts(closed)); "
            self.environment.logger.info("client \(self.peer) is going away: \(ports)open visitors finish")
        }
    }

    private enum ControlEnding { case finish, reset }

    /// GoAway, then the control stream ends: the mux closes the connection after the last
    /// stream. Call on the event loop.
    private func drain(control ending: ControlEnding) {
        self.draining = true
        self.mux.value.goAway()
        switch ending {
        case .finish: self.controlStream?.close(mode: .output, promise: nil)
        case .reset: self.controlStream?.triggerUserOutboundEvent(MuxStreamResetEvent(), promise: nil)
        }
    }

    private var isDraining: Bool {
        get async { (try? await self.channel.eventLoop.submit { self.draining }.get()) ?? false }
    }

    /// The client broke the control protocol: GoAway(protocol error), and the cause in the
    /// session's last log line.
    private func failProtocol(_ violation: BurrowError) {
        let mux = self.mux
        self.channel.eventLoop.execute { mux.value.fail(violation) }
    }
}
