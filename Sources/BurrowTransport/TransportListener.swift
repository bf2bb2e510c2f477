import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// How a listener's connections deliver their byte stream: over TCP or TLS, and either at once
/// or after an HTTP upgrade to WebSocket on one path.
public struct ListenerTransport: Sendable {
    public var tls: TLSServerIdentity?
    /// Set: connections speak HTTP, and this path upgrades to a WebSocket carrying the bytes;
    /// other requests get a one-line answer.
    public var webSocketPath: String?
    /// Which WebSocket messages carry the bytes (a Burrow peer's: binary only), and how long a
    /// connection may idle.
    public var webSocketOptions = WebSocketStreamOptions()
    /// What a plain GET of the path is told (nil: that this is a Burrow tunnel endpoint).
    public var webSocketPage: String?

    public init(
        tls: TLSServerIdentity? = nil, webSocketPath: String? = nil, webSocketOptions: WebSocketStreamOptions = WebSocketStreamOptions(),
        webSocketPage: String? = nil
    ) {
        self.tls = tls
        self.webSocketPath = webSocketPath
        self.webSocketOptions = webSocketOptions
        self.webSocketPage = webSocketPage
    }

    /// tcp, tls, ws or wss.
    public var scheme: String {
        switch (self.webSocketPath != nil, self.tls != nil) {
        case (false, false): "tcp"
        case (false, true): "tls"
        case (true, false): "ws"
        case (true, true): "wss"
        }
    }
}

/// Binds listeners whose connections become byte streams, whatever the transport. What reads
/// the stream (a session, a visitor bridge) is installed by `onStream` and never sees TLS or
/// HTTP.
public enum TransportListener {
    /// Binds `host:port` with `group` (one event loop: every connection on it). With
    /// `halfClosure`, a peer's FIN reaches the reader as end of input instead of closing the
    /// connection (visitor connections want it; a session's does not).
    ///
    /// For each connection, `admit` decides at once (nil closes it) and returns what the
    /// connection carries on (a ticket, say). Once the connection carries a byte stream (at once
    /// on TCP, with TLS running underneath; after the upgrade on WebSocket), `onStream` installs
    /// the reader on its pipeline, on its event loop; no byte is read before its future
    /// succeeds (a visitor waits for its mux stream), and a failed one closes the connection. `onNote`
    /// reports, one line each, connections that ended before that (an HTTP request answered, a
    /// failed TLS handshake); TLS failures after it reach the reader as a `BurrowError`.
    public static func bind<Admission: Sendable>(
        host: String, port: Int, transport: ListenerTransport, group: EventLoopGroup, upgradeTimeout: TimeAmount,
        halfClosure: Bool = false,
        admit: @escaping @Sendable (Channel) -> Admission?,
        onStream: @escaping @Sendable (Channel, PeerAddress, Admission) -> EventLoopFuture<Void>,
        onNote: @escaping @Sendable (PeerAddress, String) -> Void
    ) async throws -> Channel {
        try await Self.bind(
            host: host, port: port, transport: { transport }, group: group, upgradeTimeout: upgradeTimeout, halfClosure: halfClosure,
            admit: admit, onStream: onStream, onNote: onNote
        )
    }

    /// The same, with the transport read for each connection (a reload may change it: the
    /// socket stays, so no connection attempt meets a closed port), and with `reusePort`,
    /// SO_REUSEPORT, so that a reload can bind an overlapping address before this one closes.
    public static func bind<Admission: Sendable>(
        host: String, port: Int, transport: @escaping @Sendable () -> ListenerTransport, group: EventLoopGroup,
        upgradeTimeout: TimeAmount, halfClosure: Bool = false, reusePort: Bool = false,
        admit: @escaping @Sendable (Channel) -> Admission?,
        onStream: @escaping @Sendable (Channel, PeerAddress, Admission) -> EventLoopFuture<Void>,
        onNote: @escaping @Sendable (PeerAddress, String) -> Void
    ) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_REUSEPORT), value: reusePort ? 1 : 0)
            .childChannelInitializer { channel in
                guard let admission = admit(channel) else { return channel.close() }
                do {
                    try SocketTuning.configure(channel, halfClosure: halfClosure)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return Self.install(on: channel, transport: transport(), upgradeTimeout: upgradeTimeout) { stream, forwardedFor in
                    onStream(stream, PeerAddress(stream, forwardedFor: forwardedFor), admission)
                } onNote: { note in
                    onNote(PeerAddress(channel), note)
                }
            }
            .bind(host: host, port: port).get()
    }

    /// Throws when another socket holds `host:port` (a listener bound with SO_REUSEPORT would
    /// share it silently, so check first). Port 0 is always free.
    public static func checkFree(host: String, port: Int, group: EventLoopGroup) async throws {
        guard port != 0 else { return }
        let probe = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port).get()
        try await probe.close()
    }

    /// The transport's handlers on a fresh connection. Call on its event loop.
    static func install(
        on channel: Channel, transport: ListenerTransport, upgradeTimeout: TimeAmount,
        onStream: @escaping @Sendable (Channel, String?) -> EventLoopFuture<Void>,
        onNote: @escaping @Sendable (String) -> Void
    ) -> EventLoopFuture<Void> {
        let pipeline = channel.pipeline.syncOperations
        do {
            if let tls = transport.tls {
                try pipeline.addHandler(NIOSSLServerHandler(context: tls.context))
                try pipeline.addHandler(TLSErrorNaming())
            }
            guard let path = transport.webSocketPath else { return onStream(channel, nil) }
            try Self.upgrade(
                pipeline, path: path, options: transport.webSocketOptions, page: transport.webSocketPage, secure: transport.tls != nil,
                timeout: upgradeTimeout,
                onStream: onStream, onNote: onNote
            )
            return channel.eventLoop.makeSucceededVoidFuture()
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    private static func upgrade(
        _ pipeline: ChannelPipeline.SynchronousOperations, path: String, options: WebSocketStreamOptions, page: String?, secure: Bool,
        timeout upgradeTimeout: TimeAmount,
        onStream: @escaping @Sendable (Channel, String?) -> EventLoopFuture<Void>,
        onNote: @escaping @Sendable (String) -> Void
    ) throws {
        try pipeline.configureWebSocketServer(
            path: path, timeout: upgradeTimeout, options: options, page: page,
            onAnswer: onNote,
            onError: { error in
                if secure, (error as? BurrowError)?.code == .tlsHandshake {
                    onNote("TLS handshake failed (\(error)): a plain ws:// client on a wss:// listener?")
                } else {
                    onNote("connection failed before its upgrade: \(ErrorText.explain(error))")
                }
            },
            onUpgrade: { stream, request in onStream(stream, PeerAddress.forwardedFor(request)) }
        )
    }
}
