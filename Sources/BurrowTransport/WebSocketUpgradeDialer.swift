import NIOCore
import NIOHTTP1

/// The client's half of the WebSocket upgrade: sends the request and, when the answer is not
/// an upgrade, turns it into an error that names the HTTP status and the first line of the body
/// ("HTTP 404 Not Found", "HTTP 502 Bad Gateway" from a proxy whose upstream is down).
///
/// A successful upgrade never reaches this handler: `NIOHTTPClientUpgradeHandler` in front of it
/// takes the 101, and the upgrader removes this handler along with the HTTP codec.
final class WebSocketUpgradeDialer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let onFailure: (Error) -> Void
    private var response: HTTPResponseHead?
    private var body = ByteBuffer()
    private var sent = false
    private var failed = false

    init(host: String, path: String, headers: [(String, String)], onFailure: @escaping (Error) -> Void) {
        var fields = HTTPHeaders(headers)
        if !fields.contains(name: "Host") { fields.add(name: "Host", value: host) }
        self.request = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: fields)
        self.onFailure = onFailure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.sendRequest(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.sendRequest(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.response = head
        case .body(var chunk):
            // Enough of the body to quote its first line.
            if self.body.readableBytes < 256 { self.body.writeBuffer(&chunk) }
        case .end:
            self.fail(context, BurrowError(.upgradeRefused, self.refusal()))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let message = self.response == nil
            ? "the server closed the connection without answering the WebSocket upgrade (a TLS endpoint that wants wss://, or not an HTTP server?)"
            : self.refusal()
        self.fail(context, BurrowError(.upgradeRefused, message))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is HTTPParserError {
            self.fail(context, BurrowError(.upgradeRefused, "the server answered the WebSocket upgrade with something that is not HTTP (\(error))"))
        } else if let error = error as? NIOHTTPClientUpgradeError, error == .upgraderDeniedUpgrade || error == .responseProtocolNotFound {
            self.fail(context, BurrowError(.upgradeRefused, "the server answered 101 but not with a valid WebSocket handshake (\(error))"))
        } else {
            self.fail(context, error)
        }
    }

    private func sendRequest(_ context: ChannelHandlerContext) {
        guard !self.sent else { return }
        self.sent = true
        context.write(self.wrapOutboundOut(.head(self.request)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// "HTTP 404 Not Found: <first line of the body>".
    private func refusal() -> String {
        guard let response = self.response else { return "the server's answer to the WebSocket upgrade ended early" }
        var text = "the server answered the WebSocket upgrade of \(self.request.uri) with HTTP \(response.status.code) \(response.status.reasonPhrase)"
        // Quote a plain-text body's first line (Burrow's own pages, most proxies' errors); HTML
        // would only be noise.
        let firstLine = self.body.getString(at: self.body.readerIndex, length: self.body.readableBytes)?
            .split(whereSeparator: \.isNewline).first.map { String($0.drop(while: \.isWhitespace)) }
        if let firstLine, !firstLine.isEmpty, !firstLine.hasPrefix("<") { text += ": \(firstLine.prefix(160))" }
        if response.status == .notFound { text += " (is the path right?)" }
        if response.status == .ok { text += " (a plain web server, not a WebSocket endpoint?)" }
        return text
    }

    private func fail(_ context: ChannelHandlerContext, _ error: Error) {
        guard !self.failed else { return }
        self.failed = true
        self.onFailure(error)
        context.close(promise: nil)
    }
}
