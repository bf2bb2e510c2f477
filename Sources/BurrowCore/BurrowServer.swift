import BurrowConfig
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
import NIOSSL

/// `burrow server`: accepts client connections on the tunnel port and runs a `ServerSession`
/// for each.
public final class BurrowServer: Sendable {
    private let environment: ServerEnvironment
    private let group: EventLoopGroup
    private let listener = NIOLockedValueBox<Channel?>(nil)
    /// Live sessions and the tasks running their control conversations.
    private let sessions = NIOLockedValueBox<[ObjectIdentifier: (session: ServerSession, task: Task<Void, Never>)]>([:])
    private let stopping = NIOLockedValueBox(false)

    public init(configuration: ServerConfig, group: EventLoopGroup, logger: Logger) {
        self.group = group
        self.environment = ServerEnvironment(
            configuration: configuration, registry: SessionRegistry(), logger: logger,
            proxyBindHost: configuration.proxyBindHost ?? configuration.bind.host
        )
    }

    /// Starts listening for clients; returns the bound address (useful with port 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let environment = self.environment
        let timeout = TimeAmount.nanoseconds(environment.configuration.handshakeTimeout.nanoseconds)
        let tls = try environment.configuration.tls.map(TLSSetup.serverContext)
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.recvAllocator, value: SocketTuning.receiveAllocator)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    let handshake = ServerHandshakeHandler(timeout: timeout, logger: environment.logger) { context in
                        let session = try ServerSession.install(on: context.channel, environment: environment)
                        self.track(session)
                    }
                    try channel.pipeline.syncOperations.addHandler(handshake)
                }
            }
            .bind(host: environment.configuration.bind.host, port: environment.configuration.bind.port).get()
        self.listener.withLockedValue { $0 = channel }
        let address = channel.localAddress!
        let tokens = environment.configuration.tokens.count
        let transport = tls == nil ? "tcp" : "tls"
        environment.logger.info("listening for clients on \(describe(address)) over \(transport) (\(tokens) token\(tokens == 1 ? "" : "s"))")
        return address
    }

    private func track(_ session: ServerSession) {
        let id = ObjectIdentifier(session)
        self.sessions.withLockedValue { sessions in
            let task = Task {
                await session.run()
                self.sessions.withLockedValue { $0[id] = nil }
            }
            sessions[id] = (session, task)
        }
    }

    /// Graceful stop: no new clients, no new visitors, GoAway to every client, then wait (up to
    /// `grace`) for open streams to finish before closing what is left.
    public func stop(grace: Duration = .seconds(5)) async {
        let alreadyStopping = self.stopping.withLockedValue { stopping in
            defer { stopping = true }
            return stopping
        }
        guard !alreadyStopping else { return }
        let listener = self.listener.withLockedValue { $0 }
        try? await listener?.close()
        let sessions = self.sessions.withLockedValue { Array($0.values) }
        for (session, _) in sessions { await session.shutdown() }
        let deadline = ContinuousClock.now + grace
        for (session, task) in sessions {
            let loop = session.channel.eventLoop
            let timer = loop.scheduleTask(deadline: .now() + .nanoseconds(max(0, (deadline - .now).nanoseconds))) {
                session.channel.close(promise: nil)
            }
            try? await session.channel.closeFuture.get()
            timer.cancel()
            // Its last log line (the disconnect) comes before ours.
            await task.value
        }
        self.environment.logger.info("server stopped")
    }
}
