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
