import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP relay for tests, between a client and a server on loopback: it records every byte
/// the client sends, and on `stall()` turns into a black hole (bytes are swallowed both ways,
/// nothing is closed), as a half-open link does in the wild.
public final class FaultRelay: Sendable {
    private let listener: Channel
    private let state: NIOLockedValueBox<State>

    struct State {
        var stalled = false
        /// What each relayed client sent, by connection, oldest first.
        var upstream: [ByteBuffer] = []
        var connections: [Channel] = []
    }

    /// The relay's port: point the client here.
    public var port: Int { self.listener.localAddress!.port! }

    /// Everything clients sent through the relay so far, one buffer per connection.
    public var capturedUpstream: [ByteBuffer] { self.state.withLockedValue { $0.upstream } }

    private init(listener: Channel, state: NIOLockedValueBox<State>) {
        self.listener = listener
        self.state = state
    }

    /// The relays' own thread, for the life of the test process: a relay forwards pings and
    /// their answers, so its latency must not depend on other tests' traffic on the shared
    /// event loops (it once delayed a liveness ping past the server's 3 s while 64 visitors
    /// moved 8 MiB each in parallel).
    public static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    public static func start(to target: SocketAddress, group: EventLoopGroup = FaultRelay.group) async throws -> FaultRelay {
        let state = NIOLockedValueBox(State())
        let listener = try await ServerBootstrap(group: group)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop).connect(to: target).flatMapThrowing { outbound in
                    let index = state.withLockedValue { state in
                        state.upstream.append(ByteBuffer())
                        return state.upstream.count - 1
                    }
                    let up = RelayHandler(state: state, recordsUpstreamAt: index)
                    let down = RelayHandler(state: state, recordsUpstreamAt: nil)
                    up.partner = outbound
                    down.partner = inbound
                    try inbound.pipeline.syncOperations.addHandler(up)
                    try outbound.pipeline.syncOperations.addHandler(down)
                    state.withLockedValue { $0.connections += [inbound, outbound] }
                    inbound.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FaultRelay(listener: listener, state: state)
    }

    /// From now on, swallow every byte both ways without closing anything.
    public func stall() {
        self.state.withLockedValue { $0.stalled = true }
    }

    /// Closes the listener and every relayed connection.
    public func close() async {
        try? await self.listener.close()
        for connection in self.state.withLockedValue({ $0.connections }) {
            try? await connection.close()
        }
    }

    private final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let state: NIOLockedValueBox<State>
        let recordsUpstreamAt: Int?
        var partner: Channel?

        init(state: NIOLockedValueBox<State>, recordsUpstreamAt: Int?) {
            self.state = state
            self.recordsUpstreamAt = recordsUpstreamAt
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            let stalled = self.state.withLockedValue { state in
                if let index = self.recordsUpstreamAt, !state.stalled { state.upstream[index].writeImmutableBuffer(buffer) }
                return state.stalled
            }
            if !stalled { self.partner?.writeAndFlush(buffer, promise: nil) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            // A black hole does not pass closes on either.
            if !self.state.withLockedValue({ $0.stalled }) { self.partner?.close(promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}
