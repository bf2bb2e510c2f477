import BurrowProtocol
import BurrowTransport
import Logging
import NIOCore

/// The first handler on a connection to the tunnel port: waits for the client's preamble.
///
/// A Burrow client gets the server's preamble back, and the handler replaces itself with the
/// session (`onAccepted`), handing over any bytes that came after the preamble. Anything else is
/// answered as well as it can be and closed, with one log line naming the peer: an HTTP request
/// gets a one-line 400, a TLS ClientHello is named as such, a silent peer is dropped after
/// `timeout`.
public final class ServerHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let logger: Logger
    private let onAccepted: (ChannelHandlerContext) throws -> Void
    /// Who connected (behind a proxy, who the proxy says).
    private let peer: PeerAddress
    private var buffered = PreambleBuffer()
    private var timer: Scheduled<Void>?
    private var done = false

    public init(timeout: TimeAmount, logger: Logger, peer: PeerAddress, onAccepted: @escaping (ChannelHandlerContext) throws -> Void) {
        self.timeout = timeout
        self.logger = logger
        self.peer = peer
        self.onAccepted = onAccepted
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let peer = self.peer
        self.timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: self.timeout) {
            guard !self.done else { return }
            self.done = true
            self.logger.info("no preamble from \(peer) within \(Double(self.timeout.nanoseconds) / 1e9) s: closed")
            context.close(promise: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if !self.done {
            self.done = true
            self.logger.debug("connection from \(self.peer) closed before its preamble")
        }
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.done else { return }
        var incoming = self.unwrapInboundIn(data)
        let peer = self.peer
        switch self.buffered.append(&incoming) {
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
    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !self.done else { return context.fireErrorCaught(error) }
        self.done = true
        if let error = error as? BurrowError, error.code == .tlsHandshake {
            self.logger.info("TLS handshake with \(self.peer) failed (\(error)): a plain tcp:// client on a TLS port?")
        } else {
            self.logger.info("connection from \(self.peer) failed before its preamble: \(ErrorText.explain(error))")
        }
        context.close(promise: nil)
    }

    private func accept(context: ChannelHandlerContext) {
        self.done = true
        self.timer?.cancel()
        let leftover = self.buffered.takeRest()
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: Preamble.bytes)), promise: nil)
        do {
            try self.onAccepted(context)
        } catch {
            self.logger.error("cannot start a session for \(self.peer): \(error)")
            context.close(promise: nil)
            return
        }
        context.handOver(leftover)
    }

    private func refuse(_ context: ChannelHandlerContext, bytes: [UInt8]?, log message: String) {
        self.done = true
        self.buffered = PreambleBuffer()
        self.logger.info("\(message)")
        if let bytes {
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: bytes))).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }
}
