import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin API's HTTP/1.1 listener, for server and client alike: one request per connection,
/// a bearer token when configured, and the routes below. What each route does is the caller's
/// (`handle`): this type knows HTTP, not tunnels.
///
///     GET  /              the dashboard page (it asks for the token itself)
///     GET  /status        JSON of what runs (sessions, proxies, visitors, traffic)
///     GET  /metrics       Prometheus metrics, text format
///     GET  /now           the configuration running now, secrets redacted (?format=json)
///     POST /adapt         validate the file (or the TOML in the body); say what a reload would do
///     POST /reload        apply the file's (or the body's) changes
///     POST /stop          stop gracefully, as SIGTERM does
public struct AdminServer: Sendable {
    public enum Route: Sendable, Equatable {
        case dashboard
        case status
        case metrics
        case now(json: Bool)
        case adapt
        case reload
        case stop
    }

    /// What a route answers: a status code and a body (JSON or TOML or a line of text).
    public struct Response: Sendable {
        public var status: HTTPResponseStatus
        public var contentType: String
        public var body: String

        public init(status: HTTPResponseStatus = .ok, contentType: String = "application/json", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        /// A one-line plain-text answer.
        public static func text(_ status: HTTPResponseStatus, _ line: String) -> Response {
            Response(status: status, contentType: "text/plain; charset=utf-8", body: line + "\n")
        }
    }

    /// Handles a request with its body (nil when empty).
    public typealias Handler = @Sendable (Route, String?) async -> Response

    /// The largest request body taken (a config file).
    static let maximumBody = 1 << 20

    private let channel: Channel

    public var localAddress: SocketAddress? { self.channel.localAddress }

    /// Binds `host:port`; `token`, when set, is required as `Authorization: Bearer <token>`.
    public static func start(
        host: String, port: Int, token: String?, group: EventLoopGroup, logger: Logger, handle: @escaping Handler
    ) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminRequestHandler(token: token, logger: logger, handle: handle))
                }
            }
            .bind(host: host, port: port).get()
        return AdminServer(channel: channel)
    }

    public func close() async {
        try? await self.channel.close()
    }

    /// What a request's method and URI come to: a route, or the status that refuses it.
    enum Match: Equatable {
        case route(Route)
        case refused(HTTPResponseStatus)
    }

    /// The route a request names, or the status that refuses it (404, 405).
    static func route(method: HTTPMethod, uri: String) -> Match {
        let parts = uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? uri
        let query = parts.count > 1 ? String(parts[1]) : ""
        let (route, wanted): (Route, HTTPMethod)
        switch path {
        case "/": (route, wanted) = (.dashboard, .GET)
        case "/status": (route, wanted) = (.status, .GET)
        case "/metrics": (route, wanted) = (.metrics, .GET)
        case "/now": (route, wanted) = (.now(json: query.split(separator: "&").contains("format=json")), .GET)
        case "/adapt": (route, wanted) = (.adapt, .POST)
        case "/reload": (route, wanted) = (.reload, .POST)
        case "/stop": (route, wanted) = (.stop, .POST)
        default: return .refused(.notFound)
        }
        return method == wanted ? .route(route) : .refused(.methodNotAllowed)
    }

    /// Whether `header` (the Authorization value) carries `token`, compared in constant time.
    static func authorizes(_ header: String?, token: String) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(7)), wanted = Array(token.utf8)
        guard given.count == wanted.count else { return false }
        return zip(given, wanted).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// One admin request per connection: collects the body (up to `AdminServer.maximumBody`),
/// checks the token, runs the route off the event loop and writes the answer, then closes.
final class AdminRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let token: String?
    private let logger: Logger
    private let handle: AdminServer.Handler
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false
    private var timer: Scheduled<Void>?

    init(token: String?, logger: Logger, handle: @escaping AdminServer.Handler) {
        self.token = token
        self.logger = logger
        self.handle = handle
    }

    /// A connection that sends no whole request within 10 s is closed: nothing idles here.
    func handlerAdded(context: ChannelHandlerContext) {
        self.timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .seconds(10)) { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var chunk):
            guard !self.tooLarge else { return }
            if (self.body?.readableBytes ?? 0) + chunk.readableBytes > AdminServer.maximumBody {
                self.tooLarge = true
                self.body = nil
            } else if self.body == nil {
                self.body = chunk
            } else {
                self.body!.writeBuffer(&chunk)
            }
        case .end:
            guard let head = self.head else { return }
            self.timer?.cancel()
            self.answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let peer = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let match = AdminServer.route(method: head.method, uri: head.uri)
        // The page holds no secret: it asks for the token and sends it with each request.
        if let token = self.token, match != .route(.dashboard),
           !AdminServer.authorizes(head.headers.first(name: "Authorization"), token: token) {
            self.logger.warning("admin API: \(head.method) \(head.uri) from \(peer) refused: missing or wrong bearer token")
            return self.write(.text(.unauthorized, "missing or wrong token: send Authorization: Bearer <admin token>"), head, context)
        }
        if self.tooLarge {
            return self.write(.text(.payloadTooLarge, "a request body may be at most \(AdminServer.maximumBody >> 20) MiB"), head, context)
        }
        switch match {
        case .refused(let status):
            let words = status == .notFound
                ? "no such endpoint: GET /, GET /status, GET /metrics, GET /now, POST /adapt, POST /reload, POST /stop"
                : "\(head.uri) does not take \(head.method)"
            self.write(.text(status, words), head, context)
        case .route(let route):
            // Pages and scrapes read every few seconds: only what changes things (a POST) is
            // logged above debug.
            let line = "admin API: \(head.method) \(head.uri) from \(peer)"
            if head.method == .GET { self.logger.debug("\(line)") } else { self.logger.info("\(line)") }
            let body = self.body.map { String(buffer: $0) }
            let handle = self.handle
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            Task {
                let response = await handle(route, body)
                loop.execute {
                    let (handler, context) = bound.value
                    handler.write(response, head, context)
                }
            }
        }
    }

    private func write(_ response: AdminServer.Response, _ head: HTTPRequestHead, _ context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.utf8.count))
        headers.add(name: "Connection", value: "close")
        if response.status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer") }
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
