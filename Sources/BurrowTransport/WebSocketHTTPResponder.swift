import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Answers the HTTP requests on a WebSocket listener that do not become sessions.
///
/// The tunnel path without an upgrade gets a short page saying what this is (200, so a load
/// balancer's health check passes); any other path gets 404. Each answer is reported through
/// `onAnswer` (one log line) and ends the connection: nothing else is served here; a connection
/// that fails before it upgrades (a TLS handshake that did not happen, a reset) is reported
/// through `onError`. A connection that has not upgraded within `timeout` is closed, so idle
/// sockets cannot pile up.
final class WebSocketHTTPResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let path: String
    private let timeout: TimeAmount
    private let onAnswer: (String) -> Void
    private let onError: (Error) -> Void
    private var request: HTTPRequestHead?
    private var timer: Scheduled<Void>?
    private var answered = false

    /// What a plain GET of the path is told: nil for a tunnel endpoint's page.
    private let page: String?

    init(path: String, timeout: TimeAmount, page: String?, onAnswer: @escaping (String) -> Void, onError: @escaping (Error) -> Void) {
        self.path = path
        self.page = page
        self.timeout = timeout
        self.onAnswer = onAnswer
        self.onError = onError
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: self.timeout) {
            guard !self.answered else { return }
            self.answered = true
            self.onAnswer("no WebSocket upgrade within \(ErrorText.seconds(self.timeout)): closed")
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.request = head
        case .body:
            break
        case .end:
            guard let request = self.request, !self.answered else { return }
            self.answer(context, request)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A refused upgrade (wrong path, missing key) is followed by the request itself, which
        // is answered above; anything else ends the connection.
        if error is NIOWebSocketUpgradeError { return }
        if !self.answered {
            self.answered = true
            if error is HTTPParserError {
                self.onAnswer("malformed HTTP request (\(error)): answered 400")
            } else {
                self.onError(error)
            }
        }
        context.close(promise: nil)
    }

    private func answer(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        self.answered = true
        let requested = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let isUpgrade = !request.headers[canonicalForm: "upgrade"].isEmpty
        let status: HTTPResponseStatus
        let body: String
        if requested != self.path {
            status = .notFound
            body = "Not found.\n"
            self.onAnswer("HTTP \(request.method) \(requested)\(isUpgrade ? " (upgrade)" : ""): answered 404, the WebSocket path is \(self.path)")
        } else if isUpgrade {
            status = .badRequest
            body = "Not a valid WebSocket upgrade request.\n"
            self.onAnswer("HTTP \(request.method) \(requested): invalid WebSocket upgrade request, answered 400")
        } else {
            status = .ok
            body = self.page ?? "This is a Burrow tunnel endpoint: point `burrow client` here with server = \"ws://HOST:PORT\(self.path)\" (or wss://).\n"
            self.onAnswer("HTTP \(request.method) \(requested) without an upgrade: answered with the endpoint page")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
