import BurrowConfig
import BurrowCore
import BurrowMux
import BurrowProtocol
import BurrowTransport
import Logging
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One session of the client: it dials the server over the configured transport, checks the
/// server's preamble, logs in, then runs the control conversation (its proxies, and what
/// commands add or withdraw through the `ProxyTable`) until the link ends. `TunnelClient` runs
/// one after another.
final class ClientSession: Sendable {
    private let configuration: ClientConfig
    private let proxies: ProxyTable
    private let group: EventLoopGroup
    private let logger: Logger
    private let onEvent: @Sendable (TunnelClient.Event) -> Void
    private let connection = NIOLockedValueBox(Connection())
    private let metrics: ClientMetrics

    /// How far a session got: what its end is counted as.
    enum Stage: Sendable {
        case dialing
        /// The transport delivered a byte stream; no login yet.
        case connected
        case loggedIn
    }

    private struct Connection {
        var stage = Stage.dialing
        /// When the login succeeded, in seconds since 1970.
        var loggedInAt: Int64?
        var channel: Channel?
        var mux: NIOLoopBound<MuxSessionHandler>?
        /// `close()` came first: the session ends as soon as it connects.
        var closed = false
        /// `handOver()` was called: the session drains instead of ending at once.
        var handingOver = false
    }

    init(
        configuration: ClientConfig, proxies: ProxyTable, group: EventLoopGroup, logger: Logger, metrics: ClientMetrics,
        onEvent: @escaping @Sendable (TunnelClient.Event) -> Void
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.proxies = proxies
        self.group = group
        self.logger = logger
        self.onEvent = onEvent
    }

    /// How far the session got.
    var stage: Stage { self.connection.withLockedValue { $0.stage } }

    /// When it logged in (seconds since 1970), while it is logged in.
    var loggedInAt: Int64? { self.connection.withLockedValue { $0.stage == .loggedIn ? $0.loggedInAt : nil } }

    /// Ends the session: its connection closes, now or as soon as it is made.
    func close() {
        let channel = self.connection.withLockedValue { connection in
            connection.closed = true
            return connection.channel
        }
        channel?.close(promise: nil)
    }

    /// Hands the session over to the next one (a reload changed the server, the token or the
    /// transport): GoAway tells the server to close this client's ports and take no more
    /// visitors; `run()` returns at once, and the connection lives on until the visitors
    /// already through are done (the mux then closes it). Returns when it is gone.
    func handOver() -> EventLoopFuture<Void>? {
        let (channel, mux) = self.connection.withLockedValue { connection in
            connection.handingOver = true
            return (connection.channel, connection.mux)
        }
        guard let channel, let mux else {
            self.close()
            return nil
        }
        channel.eventLoop.execute { mux.value.goAway() }
        return channel.closeFuture
    }

    /// Runs the session to its end: dial, handshake, login, then the control conversation
    /// until the link ends. Throws why it ended (a `BurrowError`, or the transport's error).
    func run() async throws {
        let configuration = self.configuration
        let logger = self.logger
        let proxies = self.proxies
        let onEvent = self.onEvent
        let muxConfiguration = MuxConfiguration.session(role: .dialer, heartbeat: configuration.heartbeatInterval)

        let loop = self.group.any()
        let ready = loop.makePromise(of: Void.self)
        let monitor = SessionMonitor()
        // The mux lives on the connection's loop; it is made there and handed out loop-bound.
        let muxReady = loop.makePromise(of: NIOLoopBound<MuxSessionHandler>.self)
        let handshakeTimeout = TimeAmount(configuration.handshakeTimeout)
        let dialer = TransportDialer(target: Self.target(configuration), group: self.group)
        // Whatever the transport, the session starts once it delivers a byte stream.
        let connecting = dialer.connect(on: loop, timeout: handshakeTimeout, onStream: { channel in
            let mux = MuxSessionHandler(configuration: muxConfiguration) { stream in
                stream.eventLoop.makeCompletedFuture {
                    try VisitorStreamHandler.install(on: stream, proxies: proxies, logger: logger, onEvent: onEvent)
                }
            }
            muxReady.succeed(NIOLoopBound(mux, eventLoop: channel.eventLoop))
            let handshake = ClientHandshakeHandler(ready: ready) { context in
                try context.pipeline.syncOperations.addHandlers([mux, monitor], position: .after(context.handler))
            }
            try channel.pipeline.syncOperations.addHandler(handshake)
        }, onFailure: { ready.fail($0) })
        connecting.whenFailure { error in
            ready.fail(error)
        }
        // A transport that never delivers a byte stream has no mux to hand out.
        ready.futureResult.whenFailure { muxReady.fail($0) }
        let channel = try await connecting.get()
        let closed = self.connection.withLockedValue { connection in
            connection.channel = channel
            connection.stage = .connected
            return connection.closed
        }
        // A session handed over outlives `run()`: its mux closes the connection once drained.
        defer { if !self.connection.withLockedValue({ $0.handingOver }) { channel.close(promise: nil) } }
        if closed { return }

        // The whole login must fit in the handshake timeout.
        let timedOut = NIOLockedValueBox(false)
        let timeoutText = "no login answer from the server within \(configuration.handshakeTimeout.shortDescription)"
        let timer = loop.scheduleTask(in: handshakeTimeout) {
            timedOut.withLockedValue { $0 = true }
            ready.fail(BurrowError(.sessionEnded, timeoutText))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            try await ready.futureResult.get()
        } catch where !timedOut.withLockedValue({ $0 }) {
            // A TLS handshake that failed is explained: what was expected, what was presented.
            throw await dialer.explain(error)
        }

        let boundMux = try await muxReady.futureResult.get()
        if self.connection.withLockedValue({ connection in
            connection.mux = boundMux
            return connection.handingOver
        }) {
            throw BurrowError(.sessionEnded, "handed over to a new session before it logged in")
        }
        let controlPromise = loop.makePromise(of: ControlChannel.self)
        loop.execute {
            boundMux.value.openStream { stream in
                stream.eventLoop.makeCompletedFuture { controlPromise.succeed(try ControlChannel.wrapping(stream)) }
            }.whenFailure { controlPromise.fail($0) }
        }
        let control = try await controlPromise.futureResult.get()
        do {
            try await control.executeThenClose { inbound, outbound in
                var messages = inbound.makeAsyncIterator()
                try await self.login(&messages, outbound)
                timer.cancel()
                try await self.serveProxies(&messages, outbound)
            }
        } catch let error as BurrowError where error.code == .authenticationFailed || error.code == .loginRefused {
            throw error
        } catch let error as BurrowError where error.code == .protocolViolation {
            throw await self.failProtocol(error, mux: boundMux)
        } catch let error as MessageFraming.Error {
            throw await self.failProtocol(BurrowError(.protocolViolation, "control stream from the server: \(error)"), mux: boundMux)
        } catch where self.connection.withLockedValue({ $0.handingOver }) {
            // Our GoAway ended the conversation: visitors in flight finish, then the mux closes
            // the connection; the next session need not wait for that.
            self.logger.info("handed over to a new session; open visitors finish on this one")
            throw BurrowError(.sessionEnded, "handed over to a new session")
        } catch {
            if timedOut.withLockedValue({ $0 }) { throw BurrowError(.sessionEnded, timeoutText) }
            throw BurrowError(.sessionEnded, await monitor.cause(on: loop))
        }
        // The server ended the control stream: it is going away. Visitors in flight finish
        // first; the server closes the session when they are done.
        self.logger.info("server \(configuration.server) is going away; letting open visitors finish")
        try? await channel.closeFuture.get()
        throw BurrowError(.sessionEnded, "server went away")
    }

    /// Where the session goes, and how: the transport options of `server =`, `[tls]` and
    /// `[websocket]`.
    static func target(_ configuration: ClientConfig) -> DialTarget {
        DialTarget(configuration.server, tls: configuration.tls, headers: configuration.webSocketHeaders)
    }

    /// The server broke the control protocol: GoAway(protocol error) tells it, and the error
    /// names the cause for the reconnect line.
    private func failProtocol(_ violation: BurrowError, mux: NIOLoopBound<MuxSessionHandler>) async -> Error {
        self.logger.error("\(violation): closing the session")
        try? await mux.eventLoop.submit { mux.value.fail(violation) }.get()
        return BurrowError(.sessionEnded, "protocol error: \(violation)")
    }

    private func login(_ messages: inout ControlInbound, _ outbound: ControlOutbound) async throws {
        let configuration = self.configuration
        guard case .success(.challenge(let challenge)) = try await messages.next(expecting: "the server's challenge") else {
            throw BurrowError(.protocolViolation, "the server did not start with a challenge")
        }
        guard let serverNonce = Base64.decode(challenge.nonce), serverNonce.count == LoginProof.nonceLength else {
            throw BurrowError(.protocolViolation, "the server's challenge nonce is not \(LoginProof.nonceLength) bytes in base64")
        }
        let token = configuration.token.value
        let clientNonce = LoginProof.makeNonce()
        let proof = LoginProof.clientProof(token: token, serverNonce: serverNonce, clientNonce: clientNonce, name: configuration.name)
        try await outbound.write(.login(.init(
            name: configuration.name, tokenHint: LoginProof.tokenHint(token), clientNonce: Base64.encode(clientNonce),
            proof: Base64.encode(proof), version: BurrowVersion.current
        )))
        switch try await messages.next(expecting: "the login answer") {
        case .success(.loginOK(let ok)):
            let expected = LoginProof.serverProof(token: token, serverNonce: serverNonce, clientNonce: clientNonce, name: configuration.name)
            guard let serverProof = Base64.decode(ok.serverProof), LoginProof.matches(serverProof, expected: expected) else {
                throw BurrowError(.authenticationFailed, "the server could not prove it knows the token (is this the right server?)")
            }
            self.logger.info("logged in to \(configuration.server) as \(configuration.name) (server \(challenge.serverVersion))")
            self.connection.withLockedValue { connection in
                connection.stage = .loggedIn
                connection.loggedInAt = Int64(time(nil))
            }
            self.metrics.sessionUp.record(1)
            self.onEvent(.loggedIn(sessionID: ok.sessionID))
        case .success(.loginError(let error)):
            let fatal = error.code == .authenticationFailed || error.code == .unsupportedVersion
            throw BurrowError(fatal ? .authenticationFailed : .loginRefused, error.message)
        case .success(let other):
            throw BurrowError(.protocolViolation, "the server answered the login with \(other.type)")
        case .failure(let error):
            throw BurrowError(.protocolViolation, "malformed login answer from the server: \(error)")
        }
    }

    /// Asks for every proxy, then runs the control conversation until the session ends: the
    /// server's messages, and the requests of commands (`open`, `close`). Answers are matched by
    /// proxy name, in whatever order they come. A proxy refused for a reason that may pass (its
    /// port busy) is asked for again on its own backoff while the session lives; the retries
    /// and the requests end with the session.
    private func serveProxies(_ messages: inout ControlInbound, _ outbound: ControlOutbound) async throws {
        let configuration = self.configuration
        let (requests, continuation) = AsyncStream.makeStream(of: ControlMessage.self)
        let first = self.proxies.attach(continuation)
        defer {
            self.proxies.detach()
            continuation.finish()
        }
        for proxy in first { try await outbound.write(ProxyTable.request(proxy)) }
        var backoffs: [String: Backoff] = [:]
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for await request in requests { try await outbound.write(request) }
            }
            while let message = try await messages.next(from: "the server", .server, logger: self.logger) {
                switch message {
                case .proxyOpened(let opened):
                    backoffs[opened.name] = nil
                    guard let entry = self.proxies.entry(opened.name) else { continue }
                    self.proxies.setState(.published(remotePort: opened.remotePort), of: opened.name)
                    self.logger.info("proxy \(opened.name): \(entry.proxy.local) is published on server port \(opened.remotePort)")
                    self.onEvent(.proxyOpened(name: opened.name, remotePort: opened.remotePort))
                case .proxyRejected(let rejected):
                    self.onEvent(.proxyRejected(name: rejected.name, reason: rejected.reason))
                    guard rejected.code.isRetryable, let entry = self.proxies.entry(rejected.name) else {
                        self.proxies.setState(.rejected(reason: rejected.reason), of: rejected.name)
                        self.logger.error("proxy \(rejected.name) rejected by the server: \(rejected.reason)")
                        continue
                    }
                    self.proxies.setState(.retrying(reason: rejected.reason), of: rejected.name)
                    var backoff = backoffs[rejected.name]
                        ?? Backoff(initial: configuration.reconnect.initialDelay, maximum: configuration.reconnect.maximumDelay)
                    let delay = backoff.nextDelay()
                    backoffs[rejected.name] = backoff
                    self.logger.warning("proxy \(rejected.name) rejected by the server: \(rejected.reason); asking again in \(delay.shortDescription)")
                    let again = ProxyTable.request(entry.proxy)
                    tasks.addTask {
                        try await Task.sleep(for: delay)
                        continuation.yield(again)
                    }
                case .proxyClosed(let closed):
                    backoffs[closed.name] = nil
                    self.proxies.setState(.requested, of: closed.name)
                    self.logger.info("proxy \(closed.name): closed on the server\(closed.remotePort.map { " (port \($0))" } ?? "")")
                    self.onEvent(.proxyClosed(name: closed.name))
                case let other:
                    throw BurrowError(.protocolViolation, "the server sent \(other.type) after the login")
                }
            }
            tasks.cancelAll()
        }
    }
}
