import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Where and how a dialer reaches its peer: TCP or TLS, and optionally a WebSocket upgrade.
public struct DialTarget: Sendable {
    public struct WebSocket: Sendable {
        /// The Host header (unless `headers` has one).
        public var host: String
        public var path: String
        public var headers: [(String, String)]
        /// Whether the server's text messages are bytes too (a local service), or refused.
        public var acceptsText: Bool

        public init(host: String, path: String, headers: [(String, String)] = [], acceptsText: Bool = false) {
            self.host = host
            self.path = path
            self.headers = headers
            self.acceptsText = acceptsText
        }
    }

    public var host: String
    public var port: Int
    public var tls: TLSClientTrust?
    public var webSocket: WebSocket?

    public init(host: String, port: Int, tls: TLSClientTrust? = nil, webSocket: WebSocket? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
        self.webSocket = webSocket
    }
}

/// One connection attempt to a `DialTarget` that ends in a byte stream, whatever the transport.
/// What reads the stream is installed by `onStream` and never sees TLS or HTTP; when the
/// attempt fails, `explain` turns a TLS failure into what was expected and what the server
/// presented.
public final class TransportDialer: Sendable {
    private let target: DialTarget
    private let group: EventLoopGroup
    /// The certificate the server presented, when it got that far.
    private let seen = NIOLockedValueBox<String?>(nil)
    private let progress = NIOLockedValueBox(Progress())

    private struct Progress {
        var connected = false
        var tlsDone = false
    }

    public init(target: DialTarget, group: EventLoopGroup) {
        self.target = target
        self.group = group
    }

    /// Connects on `loop`. `onStream` runs on the connection's event loop once bytes can flow
    /// (at once on TCP and TLS, with TLS running underneath; after the upgrade on WebSocket);
    /// `onFailure` hears of a WebSocket upgrade that was refused.
    public func connect(
        on loop: EventLoop, timeout: TimeAmount,
        onStream: @escaping @Sendable (Channel) throws -> Void,
        onFailure: @escaping @Sendable (Error) -> Void
    ) -> EventLoopFuture<Channel> {
        let target = self.target
        let seen = self.seen
        let progress = self.progress
        let connecting = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.recvAllocator, value: SocketTuning.receiveAllocator)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls = target.tls {
                        try pipeline.addHandler(try tls.handler(seen: seen))
                        try pipeline.addHandler(TLSProgress { progress.withLockedValue { $0.tlsDone = true } })
                    }
                    guard let webSocket = target.webSocket else { return try onStream(channel) }
                    try pipeline.configureWebSocketClient(
                        host: webSocket.host, path: webSocket.path, headers: webSocket.headers, acceptsText: webSocket.acceptsText,
                        onFailure: onFailure, onUpgrade: onStream
                    )
                }
            }
            .connect(hostOrAddress: target.host, port: target.port)
        connecting.whenSuccess { _ in progress.withLockedValue { $0.connected = true } }
        return connecting
    }

    /// `error` from an attempt that did not deliver a working session, explained when it was
    /// the TLS handshake that failed (the connection was made, the handshake never finished);
    /// otherwise `error` itself.
    public func explain(_ error: Error) async -> Error {
        guard let tls = self.target.tls else { return error }
        let progress = self.progress.withLockedValue { $0 }
        guard progress.connected, !progress.tlsDone else { return error }
        let seen = self.seen.withLockedValue { $0 }
        let inspected = tls.pinnedFingerprint == nil ? await tls.inspect(host: self.target.host, port: self.target.port, group: self.group) : nil
        return tls.explain(error, seen: seen, inspected: inspected, plainScheme: self.target.webSocket == nil ? "tcp://" : "ws://")
    }
}

/// Notes that the TLS handshake completed.
private final class TLSProgress: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    private let onDone: @Sendable () -> Void

    init(onDone: @escaping @Sendable () -> Void) {
        self.onDone = onDone
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { self.onDone() }
        context.fireUserInboundEventTriggered(event)
    }
}
