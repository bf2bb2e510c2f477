import BurrowProtocol
import BurrowTransport
import NIOCore

/// The client's first handler: sends the preamble and checks the server's answer.
///
/// On the server's preamble it replaces itself with the session (`onAccepted`) and succeeds
/// `ready`; otherwise it fails `ready` with an error that says what answered instead (a refusal
/// and its reason, a web server, a TLS endpoint, silence) and closes.
public final class ClientHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let ready: EventLoopPromise<Void>
    private let onAccepted: (ChannelHandlerContext) throws -> Void
    private var buffered = PreambleBuffer()
    private var preambleSent = false

    public init(ready: EventLoopPromise<Void>, onAccepted: @escaping (ChannelHandlerContext) throws -> Void) {
        self.ready = ready
        self.onAccepted = onAccepted
    }

    /// Added to a live connection (after a WebSocket upgrade) it speaks at once; added before
    /// the connection is up, when it comes up.
    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.sendPreamble(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.sendPreamble(context)
        context.fireChannelActive()
    }

    private func sendPreamble(_ context: ChannelHandlerContext) {
        guard !self.preambleSent else { return }
        self.preambleSent = true
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: Preamble.bytes)), promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let answer = self.buffered.count == 0 ? "without a word" : "after \(self.buffered.count) unexpected bytes"
        self.ready.fail(BurrowError(.handshakeFailed, "server closed the connection \(answer) (not a Burrow server, or it refused us)"))
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.ready.fail(error)
        context.close(promise: nil)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        switch self.buffered.append(&incoming) {
        case .needMoreBytes:
            return
        case .burrow(let version) where version == Preamble.version:
            do {
                try self.onAccepted(context)
            } catch {
                self.fail(context, error)
                return
            }
            context.handOver(self.buffered.takeRest())
            self.ready.succeed(())
        case .burrow(let version):
            self.fail(context, BurrowError(.handshakeFailed, "server speaks protocol version \(version), this client \(Preamble.version): upgrade the older side"))
        case .refusal:
            // The line is read only within its limit: a peer that never ends it cannot make
            // us hold (or rescan) more.
            let line = self.buffered.bytes.readableBytesView.prefix(Preamble.maximumRefusalLength)
            guard let newline = line.firstIndex(of: UInt8(ascii: "\n")) else {
                guard line.count == Preamble.maximumRefusalLength else { return }
                let start = String(decoding: line.prefix(80), as: UTF8.self)
                self.fail(context, BurrowError(.handshakeFailed, "server sent a refusal line longer than \(Preamble.maximumRefusalLength) bytes (\"\(start)...\"): not a Burrow server"))
                return
            }
            let reason = String(decoding: line[..<newline].dropFirst(Preamble.refusalPrefix.count + 1), as: UTF8.self)
            self.fail(context, BurrowError(.handshakeFailed, "server refused: \(reason)"))
        case .http:
            let bytes = self.buffered.bytes
            let status = bytes.getString(at: bytes.readerIndex, length: min(bytes.readableBytes, 40))?
                .split(separator: "\r\n").first.map(String.init) ?? "HTTP"
            self.fail(context, BurrowError(.handshakeFailed, "server answered with HTTP (\(status)): not a Burrow tunnel port"))
        case .tls:
            self.fail(context, BurrowError(.handshakeFailed, "server answered with TLS: use tls:// in `server =`"))
        case .unknown:
            self.fail(context, BurrowError(.handshakeFailed, "server answered with unexpected bytes: not a Burrow tunnel port"))
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: Error) {
        self.ready.fail(error)
        context.close(promise: nil)
    }
}
