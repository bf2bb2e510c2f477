import NIOCore

extension ChannelHandlerContext {
    /// Closes (`mode`) once everything already written has gone out.
    ///
    /// Closing a socket drops its unwritten data, and NIO turns `close(mode: .output)` into a
    /// full close when the input is already shut, so an empty write goes first: it completes
    /// only after everything before it is written. A channel that cannot half-close closes
    /// entirely.
    public func closeAfterPendingWrites(mode: CloseMode = .all) {
        let drained = self.eventLoop.makePromise(of: Void.self)
        self.writeAndFlush(NIOAny(ByteBuffer()), promise: drained)
        drained.futureResult.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            let closed = self.eventLoop.makePromise(of: Void.self)
            closed.futureResult.assumeIsolatedUnsafeUnchecked().whenFailure { error in
                if mode == .output, (error as? ChannelError) != .outputClosed, (error as? ChannelError) != .alreadyClosed {
                    self.close(promise: nil)
                }
            }
            self.close(mode: mode, promise: closed)
        }
    }
}
