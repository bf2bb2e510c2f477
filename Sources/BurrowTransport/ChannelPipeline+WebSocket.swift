import NIOCore
import NIOHTTP1
import NIOWebSocket

extension ChannelPipeline.SynchronousOperations {
    /// Makes a fresh server connection an HTTP endpoint whose `path` upgrades to a WebSocket
    /// carrying a byte stream. After the upgrade the pipeline ends in a
    /// `WebSocketByteStreamHandler`, and `onUpgrade` (given the upgrade request) adds whatever
    /// reads those bytes; the connection reads on once its future succeeds.
    /// Every other request is answered by `WebSocketHTTPResponder` (a plain GET of the path with
    /// `page`, or a tunnel endpoint's page) and reported to `onAnswer`, as is an upgraded
    /// connection this side ended (idle past `options.idleTimeout`, or a broken protocol);
    /// a connection that fails before its upgrade, to `onError`.
    public func configureWebSocketServer(
        path: String,
        timeout: TimeAmount,
        options: WebSocketStreamOptions = WebSocketStreamOptions(),
        page: String? = nil,
        onAnswer: @escaping @Sendable (String) -> Void,
        onError: @escaping @Sendable (Error) -> Void,
        onUpgrade: @escaping @Sendable (Channel, HTTPRequestHead) -> EventLoopFuture<Void>
    ) throws {
        let upgrader = ByteStreamServerUpgrader(path: path, options: options, onEnd: onAnswer, onUpgrade: onUpgrade)
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
        try self.addHandler(WebSocketHTTPResponder(path: path, timeout: timeout, page: page, onAnswer: onAnswer, onError: onError))
    }

    /// Makes a client connection request a WebSocket upgrade of `path` from `host` (the Host
    /// header unless `headers` has one). On 101 the pipeline ends in a
    /// `WebSocketByteStreamHandler` and `onUpgrade` adds whatever reads the bytes; any other
    /// answer, or none, is reported to `onFailure` in words that name the HTTP status.
    /// `acceptsText`: text messages from the server are bytes too (a local service).
    public func configureWebSocketClient(
        host: String,
        path: String,
        headers: [(String, String)],
        acceptsText: Bool = false,
        onFailure: @escaping (Error) -> Void,
        onUpgrade: @escaping @Sendable (Channel) throws -> Void
    ) throws {
        try self.addHTTPClientHandlers(
            leftOverBytesStrategy: .forwardBytes,
            withClientUpgrade: (
                upgraders: [ByteStreamClientUpgrader(acceptsText: acceptsText, onUpgrade: onUpgrade)], completionHandler: { _ in }
            )
        )
        try self.addHandler(WebSocketUpgradeDialer(host: host, path: path, headers: headers, onFailure: onFailure))
    }

    /// What both sides run once upgraded: the byte stream handler reads and writes frames
    /// itself, so NIO's frame codec is not installed.
    fileprivate func addWebSocketByteStream(
        role: WebSocketByteStreamHandler.Role, options: WebSocketStreamOptions, onEnd: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        try self.addHandler(WebSocketByteStreamHandler(role: role, options: options, onEnd: onEnd))
    }
}

/// How a WebSocket byte stream behaves past the protocol: which messages it takes and sends
/// (a Burrow peer's carry binary only; a visitor's or a local service's may also be text), and
/// how long it may idle.
public struct WebSocketStreamOptions: Sendable {
    /// Text messages are bytes too, rather than a protocol violation.
    public var acceptsText: Bool
    /// The bytes leave as text messages rather than binary ones.
    public var sendsText: Bool
    /// With no frame either way for this long, the connection is closed with a close frame
    /// (1001, going away). Nil: never (a session has its own keepalive).
    public var idleTimeout: TimeAmount?

    public init(acceptsText: Bool = false, sendsText: Bool = false, idleTimeout: TimeAmount? = nil) {
        self.acceptsText = acceptsText
        self.sendsText = sendsText
        self.idleTimeout = idleTimeout
    }
}

/// NIO's server upgrader checks the request and computes the accept header; the pipeline after
/// the upgrade is Burrow's.
private final class ByteStreamServerUpgrader: HTTPServerProtocolUpgrader, Sendable {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []
    private let handshake: NIOWebSocketServerUpgrader
    private let options: WebSocketStreamOptions
    private let onEnd: @Sendable (String) -> Void
    private let onUpgrade: @Sendable (Channel, HTTPRequestHead) -> EventLoopFuture<Void>

    init(
        path: String, options: WebSocketStreamOptions, onEnd: @escaping @Sendable (String) -> Void,
        onUpgrade: @escaping @Sendable (Channel, HTTPRequestHead) -> EventLoopFuture<Void>
    ) {
        self.options = options
        self.onEnd = onEnd
        self.onUpgrade = onUpgrade
        self.handshake = NIOWebSocketServerUpgrader(
            shouldUpgrade: { channel, head in
                let requested = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                // Anything else is answered by the responder (404, or 400 for a bad key).
                let upgrade = requested == path && head.headers["Sec-WebSocket-Key"].count == 1
                    && Self.isValidKey(head.headers["Sec-WebSocket-Key"][0])
                return channel.eventLoop.makeSucceededFuture(upgrade ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in channel.eventLoop.makeSucceededVoidFuture() }
        )
    }

    /// RFC 6455 4.1: the key is 16 random bytes in base64, so 24 characters ending in "==", the
    /// last one before them carrying no bits past the 16th byte. NIO's upgrader takes any text.
    static func isValidKey(_ key: String) -> Bool {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let characters = Array(key)
        return characters.count == 24 && characters[22...] == ["=", "="] && characters[..<22].allSatisfy(alphabet.contains)
            && "AQgw".contains(characters[21])
    }

    func buildUpgradeResponse(channel: Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        self.handshake.buildUpgradeResponse(channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        do {
            try context.pipeline.syncOperations.addWebSocketByteStream(role: .server, options: self.options, onEnd: self.onEnd)
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
        return self.onUpgrade(context.channel, upgradeRequest)
    }
}

/// NIO's client upgrader adds the key and checks the server's accept; the pipeline after the
/// upgrade is Burrow's.
private final class ByteStreamClientUpgrader: NIOHTTPClientProtocolUpgrader, Sendable {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []
    private let handshake = NIOWebSocketClientUpgrader(upgradePipelineHandler: { channel, _ in channel.eventLoop.makeSucceededVoidFuture() })
    private let acceptsText: Bool
    private let onUpgrade: @Sendable (Channel) throws -> Void

    init(acceptsText: Bool, onUpgrade: @escaping @Sendable (Channel) throws -> Void) {
        self.acceptsText = acceptsText
        self.onUpgrade = onUpgrade
    }

    func addCustom(upgradeRequestHeaders: inout HTTPHeaders) {
        self.handshake.addCustom(upgradeRequestHeaders: &upgradeRequestHeaders)
    }

    func shouldAllowUpgrade(upgradeResponse: HTTPResponseHead) -> Bool {
        self.handshake.shouldAllowUpgrade(upgradeResponse: upgradeResponse)
    }

    func upgrade(context: ChannelHandlerContext, upgradeResponse: HTTPResponseHead) -> EventLoopFuture<Void> {
        context.eventLoop.makeCompletedFuture {
            let pipeline = context.pipeline.syncOperations
            pipeline.removeHandler(context: try pipeline.context(handlerType: WebSocketUpgradeDialer.self), promise: nil)
            try pipeline.addWebSocketByteStream(role: .client, options: WebSocketStreamOptions(acceptsText: self.acceptsText))
            try self.onUpgrade(context.channel)
        }
    }
}
