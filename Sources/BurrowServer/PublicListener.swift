import BurrowTransport
import NIOCore

/// Where one proxy's visitors arrive on the server: bound when the proxy opens, closed when it
/// closes or its session ends. TCP today; UDP and WebSocket visitors are further kinds of it.
protocol PublicListener: Sendable {
    /// What the listener holds in the registry: its protocol and port.
    var key: SessionRegistry.PortKey { get }
    func close() async
}

/// A TCP public port: every accepted connection is handed to `onVisitor`, which bridges it to
/// a stream of the session. The connection reads nothing until that future succeeds, so no
/// visitor byte arrives before the bridge is in place. With a WebSocket `transport` (a
/// `websocket` proxy), a visitor is a connection once upgraded on the path, within
/// `upgradeTimeout`; other requests are answered and reported to `onNote`, as are visitors
/// closed for idling.
struct TCPPublicListener: PublicListener {
    let key: SessionRegistry.PortKey
    private let channel: Channel

    static func bind(
        host: String, port: Int, on loop: EventLoop, transport: ListenerTransport = ListenerTransport(),
        upgradeTimeout: TimeAmount = .seconds(10),
        onVisitor: @escaping @Sendable (Channel, PeerAddress) -> EventLoopFuture<Void>,
        onNote: @escaping @Sendable (PeerAddress, String) -> Void = { _, _ in }
    ) async throws -> TCPPublicListener {
        let channel = try await TransportListener.bind(
            host: host, port: port, transport: transport, group: loop, upgradeTimeout: upgradeTimeout,
            halfClosure: true,
            admit: { _ in () },
            onStream: { visitor, peer, _ in onVisitor(visitor, peer) },
            onNote: onNote
        )
        return TCPPublicListener(key: .init(.tcp, port), channel: channel)
    }

    func close() async {
        try? await self.channel.close()
    }
}
