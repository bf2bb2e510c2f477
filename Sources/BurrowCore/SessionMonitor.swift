import BurrowMux
import BurrowTransport
import NIOCore

/// Sits after the mux on a session's channel, remembers why the session ended and passes on
/// what the mux observed (GoAway from the peer, pings' round trips).
public final class SessionMonitor: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = Never

    private var lastError: Error?
    /// Called on the event loop when the peer sends GoAway.
    public var onGoAway: (() -> Void)?
    /// Called on the event loop with each answered ping's round trip. Set it with
    /// `observeRoundTrips(on:_:)` from off the loop.
    private var onRoundTrip: (@Sendable (TimeAmount) -> Void)?

    public init() {}

    /// Hands each answered ping's round trip (heartbeats, and pings asked for) to `observer`,
    /// or to nobody (nil).
    public func observeRoundTrips(on loop: EventLoop, _ observer: (@Sendable (TimeAmount) -> Void)?) {
        loop.execute { self.onRoundTrip = observer }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? MuxSessionHandler.Event {
        case .goAwayReceived: self.onGoAway?()
        case .pingAnswered(let rtt): self.onRoundTrip?(rtt)
        default: break
        }
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
