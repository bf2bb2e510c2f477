import BurrowMux
import NIOCore

extension MuxSessionHandler {
    /// Opens a stream that sends `payload`, half-closes, and collects what comes back. The
    /// returned future (of the session's loop) holds the future of everything received until
    /// the peer's EOF. Call on the session's event loop.
    public func openEndpoint(sending payload: ByteBuffer, on loop: EventLoop) -> EventLoopFuture<EventLoopFuture<ByteBuffer>> {
        let endpoint = StreamEndpoint(eventLoop: loop, sending: payload)
        return self.openStream { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                try stream.pipeline.syncOperations.addHandler(endpoint)
            }
        }.map { _ in endpoint.receivedAll }
    }
}
