import BurrowMux
import BurrowTransport
import NIOCore

/// Sits after the mux on a session's channel and remembers why the session ended.
public final class SessionMonitor: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = Never

    private var lastError: Error?
    /// Called on the event loop when the peer sends GoAway.
    public var onGoAway: (() -> Void)?

    public init() {}

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .goAwayReceived = event as? MuxSessionHandler.Event { self.onGoAway?() }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.lastError = error
    }

    public func note(_ error: Error, on loop: EventLoop) {
        loop.execute { if self.lastError == nil { self.lastError = error } }
    }

    /// Why the session ended, in words.
    public func cause(on loop: EventLoop) async -> String {
        (try? await loop.submit { self.lastError.map(Self.explain) ?? "connection closed by the peer" }.get())
            ?? "connection closed by the peer"
    }

    private static func explain(_ error: Error) -> String {
        guard let mux = error as? MuxError else {
            if let channelError = error as? ChannelError, channelError == .ioOnClosedChannel || channelError == .eof {
                return "connection closed by the peer"
            }
            return ErrorText.explain(error)
        }
        switch mux.code {
        case .sessionClosed: return "connection closed by the peer"
        case .keepAliveTimeout: return "\(mux)"
        default: return mux.isSessionError ? "protocol error: \(mux)" : "\(mux)"
        }
    }
}
