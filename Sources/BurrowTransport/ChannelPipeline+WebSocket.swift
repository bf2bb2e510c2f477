import NIOCore
import NIOHTTP1
import NIOWebSocket

extension ChannelPipeline.SynchronousOperations {
    /// Makes a fresh server connection an HTTP endpoint whose `path` upgrades to a WebSocket
    /// carrying a byte stream. After the upgrade the pipeline ends in a
    /// `WebSocketByteStreamHandler`, and `onUpgrade` adds whatever reads those bytes.
    /// Every other request is answered by `WebSocketHTTPResponder` and reported to `onAnswer`.
    public func configureWebSocketServer(
        path: String,
        timeout: TimeAmount,
        onAnswer: @escaping @Sendable (String) -> Void,
        onUpgrade: @escaping @Sendable (Channel) throws -> Void
    ) throws {
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: WebSocketByteStreamHandler.maximumFrameLength,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let requested = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                return channel.eventLoop.makeSucceededFuture(requested == path ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WebSocketByteStreamHandler(role: .server))
                    try onUpgrade(channel)
                }
            }
        )
        try self.configureHTTPServerPipeline(
            withPipeliningAssistance: false,
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                // The request became a session: the responder (and its timeout) is done.
                if let responder = try? context.pipeline.syncOperations.context(handlerType: WebSocketHTTPResponder.self) {
                    context.pipeline.syncOperations.removeHandler(context: responder, promise: nil)
                }
            }),
            withErrorHandling: true
        )
        try self.addHandler(WebSocketHTTPResponder(path: path, timeout: timeout, onAnswer: onAnswer))
    }

    /// Makes a client connection request a WebSocket upgrade of `path` from `host` (the Host
    /// header unless `headers` has one). On 101 the pipeline ends in a
    /// `WebSocketByteStreamHandler` and `onUpgrade` adds whatever reads the bytes; any other
    /// answer, or none, is reported to `onFailure` in words that name the HTTP status.
    public func configureWebSocketClient(
        host: String,
        path: String,
        headers: [(String, String)],
        onFailure: @escaping (Error) -> Void,
        onUpgrade: @escaping @Sendable (Channel) throws -> Void
    ) throws {
        let upgrader = NIOWebSocketClientUpgrader(
            maxFrameSize: WebSocketByteStreamHandler.maximumFrameLength,
            automaticErrorHandling: true,
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let dialer = try channel.pipeline.syncOperations.context(handlerType: WebSocketUpgradeDialer.self)
                    channel.pipeline.syncOperations.removeHandler(context: dialer, promise: nil)
                    try channel.pipeline.syncOperations.addHandler(WebSocketByteStreamHandler(role: .client))
                    try onUpgrade(channel)
                }
            }
        )
        try self.addHTTPClientHandlers(
            leftOverBytesStrategy: .forwardBytes,
            withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
        )
        try self.addHandler(WebSocketUpgradeDialer(host: host, path: path, headers: headers, onFailure: onFailure))
    }
}
