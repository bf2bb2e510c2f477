import BurrowMux
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ChannelHandlerContext {
    /// Ends the channel as an abort, so that its peer sees a reset rather than an end of data:
    /// a socket closes with SO_LINGER 0 (the kernel sends RST and drops what is unsent), a mux
    /// stream sends RST. A cut-off transfer then never looks complete at the far end.
    public func abort() {
        if let socket = self.channel as? SocketOptionProvider {
            // Handlers nearer the socket that would say goodbye on close (a WebSocket's close
            // frame) hear first that this is no clean end.
            self.triggerUserOutboundEvent(ConnectionAbortEvent(), promise: nil)
            // On the channel's own loop the option is set before the future returns.
            socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                self.close(promise: nil)
            }
            return
        }
        let reset = self.eventLoop.makePromise(of: Void.self)
        reset.futureResult.assumeIsolatedUnsafeUnchecked().whenFailure { _ in self.close(promise: nil) }
        // A channel that knows no reset (not a mux stream) is at least closed.
        self.triggerUserOutboundEvent(MuxStreamResetEvent(), promise: reset)
    }
}

extension Channel {
    /// Aborts the channel from outside its handlers (a connection that never got its partner):
    /// as `ChannelHandlerContext.abort()`, from the pipeline's end. Completes once closed.
    public func abort() -> EventLoopFuture<Void> {
        self.pipeline.triggerUserOutboundEvent(ConnectionAbortEvent(), promise: nil)
        guard let socket = self as? SocketOptionProvider else { return self.close() }
        return socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).flatMap { self.close() }
    }
}

/// Passed down a socket's pipeline before it is aborted (closed with SO_LINGER 0): a handler
/// that ends its protocol politely on close (a WebSocket's close frame, which a peer reads as a
/// clean end) must not, so that the peer sees the abort as one (a WebSocket peer sees 1006).
public struct ConnectionAbortEvent: Sendable {
    public init() {}
}
