import BurrowProtocol
import Logging
import NIOCore
import NIOSSL

/// The first handler on a connection to the tunnel port: waits for the client's preamble.
///
/// A Burrow client gets the server's preamble back, and the handler replaces itself with the
/// session (`onAccepted`), handing over any bytes that came after the preamble. Anything else is
/// answered as well as it can be and closed, with one log line naming the peer: an HTTP request
/// gets a one-line 400, a TLS ClientHello is named as such, a silent peer is dropped after
/// `timeout`.
final class ServerHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let logger: Logger
    private let onAccepted: (ChannelHandlerContext) throws -> Void
    /// The client's address as a proxy in front reported it (WebSocket's X-Forwarded-For).
    private let forwardedFor: String?
    private var buffered: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var done = false

    init(timeout: TimeAmount, logger: Logger, forwardedFor: String? = nil, onAccepted: @escaping (ChannelHandlerContext) throws -> Void) {
        self.timeout = timeout
        self.logger = logger
        self.forwardedFor = forwardedFor
        self.onAccepted = onAccepted
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let peer = self.peer(context)
        self.timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: self.timeout) {
            guard !self.done else { return }
            self.done = true
            self.logger.info("no preamble from \(peer) within \(Double(self.timeout.nanoseconds) / 1e9) s: closed")
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.done {
            self.done = true
            self.logger.debug("connection from \(self.peer(context)) closed before its preamble")
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.done else { return }
        var incoming = self.unwrapInboundIn(data)
        if self.buffered == nil {
            self.buffered = incoming
        } else {
            self.buffered!.writeBuffer(&incoming)
        }
        let peer = self.peer(context)
        switch Preamble.classify(self.buffered!.readableBytesView) {
        case .needMoreBytes:
            return
        case .burrow(let version) where version == Preamble.version:
            self.accept(context: context)
        case .burrow(let version):
            self.refuse(context, bytes: Preamble.refusal("unsupported protocol version \(version); this server speaks \(Preamble.version)"),
                        log: "client \(peer) speaks protocol version \(version), this server \(Preamble.version): refused")
        case .http:
            self.refuse(context, bytes: Preamble.httpRefusal, log: "HTTP request from \(peer) on the tunnel port: answered 400")
        case .tls:
            self.refuse(context, bytes: nil, log: "TLS handshake from \(peer) on a plain tunnel port (client uses tls:// but the server has no [tls]?): closed")
        case .refusal, .unknown:
            self.refuse(context, bytes: nil, log: "unexpected bytes from \(peer), not a Burrow client: closed")
        }
    }

    /// Errors before the session starts: a TLS handshake that failed (a plain client on a TLS
    /// port, a scanner), or the connection itself failing.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !self.done else { return context.fireErrorCaught(error) }
        self.done = true
        if error is NIOSSLError || error is BoringSSLError {
            self.logger.info("TLS handshake with \(self.peer(context)) failed (\(error)): a plain tcp:// client on a TLS port?")
        } else {
            self.logger.info("connection from \(self.peer(context)) failed before its preamble: \(ErrorText.explain(error))")
        }
        context.close(promise: nil)
    }

    private func accept(context: ChannelHandlerContext) {
        self.done = true
        self.timer?.cancel()
        var leftover = self.buffered!
        self.buffered = nil
        leftover.moveReaderIndex(forwardBy: Preamble.length)
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: Preamble.bytes)), promise: nil)
        do {
            try self.onAccepted(context)
        } catch {
            self.logger.error("cannot start a session for \(self.peer(context)): \(error)")
            context.close(promise: nil)
            return
        }
        if leftover.readableBytes > 0 {
            context.fireChannelRead(self.wrapInboundOut(leftover))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(_ context: ChannelHandlerContext, bytes: [UInt8]?, log message: String) {
        self.done = true
        self.buffered = nil
        self.logger.info("\(message)")
        if let bytes {
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: bytes))).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }

    /// The peer's address, and the client's behind it when a proxy said so.
    private func peer(_ context: ChannelHandlerContext) -> String {
        describePeer(context.channel, forwardedFor: self.forwardedFor)
    }
}

/// "1.2.3.4:5678", or "127.0.0.1:5678 (forwarded for 203.0.113.9)" behind a proxy.
func describePeer(_ channel: Channel, forwardedFor: String?) -> String {
    let address = channel.remoteAddress.map(describe) ?? "unknown peer"
    return forwardedFor.map { "\(address) (forwarded for \($0))" } ?? address
}

/// "1.2.3.4:5678" or "[::1]:5678".
func describe(_ address: SocketAddress) -> String {
    guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
    return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
}
