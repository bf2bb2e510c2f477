import BurrowProtocol
import BurrowTransport
import NIOCore

/// Carries one UDP flow between a mux stream (datagrams framed with their length) and a
/// datagram channel. Datagrams are never queued without bound: one that finds the stream
/// without room (no credit, a backlogged session) is dropped and counted, as the network would.
public enum DatagramBridge {
    /// Joins `stream` to `socket`, datagrams to and from `peer` (the visitor on the server's
    /// shared public socket; the service on the client's connected one). The datagrams the
    /// stream delivers count into `meter` as `direction` (outbound on the server, inbound on the
    /// client), once per read burst, when `onActivity` hears of them too (for the idle timeout).
    /// Call on their shared event loop.
    public static func join(
        stream: Channel, socket: Channel, peer: SocketAddress, meter: ProxyMeter?, direction: TrafficDirection,
        onActivity: @escaping () -> Void = {}
    ) throws {
        try stream.pipeline.syncOperations.addHandler(ByteToMessageHandler(DatagramFrameDecoder()))
        try stream.pipeline.syncOperations.addHandler(
            StreamToSocket(socket: socket, peer: peer, meter: meter, tally: DatagramTally(direction), onActivity: onActivity)
        )
    }

    /// Writes one datagram from the socket into the stream, or drops it when the stream has no
    /// room; returns whether it was written. The caller flushes once per read burst, as the
    /// rest of the byte path does, not once per datagram.
    @discardableResult
    public static func send(_ payload: ByteBuffer, into stream: Channel) -> Bool {
        guard stream.isActive, stream.isWritable else { return false }
        stream.write(DatagramFraming.frame(payload, allocator: stream.allocator), promise: nil)
        return true
    }
}

/// On a flow's stream, after the frame decoder: each datagram goes to the socket, addressed to
/// the peer. A malformed frame resets the stream (that flow only).
public final class StreamToSocket: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer

    private let socket: Channel
    private let peer: SocketAddress
    private let meter: ProxyMeter?
    private var tally: DatagramTally
    private let onActivity: () -> Void

    init(socket: Channel, peer: SocketAddress, meter: ProxyMeter?, tally: DatagramTally, onActivity: @escaping () -> Void) {
        self.socket = socket
        self.peer = peer
        self.meter = meter
        self.tally = tally
        self.onActivity = onActivity
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = self.unwrapInboundIn(data)
        self.tally.carried(payload.readableBytes)
        self.socket.write(AddressedEnvelope(remoteAddress: self.peer, data: payload), promise: nil)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        self.socket.flush()
        self.endBurst()
        context.fireChannelReadComplete()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.endBurst()
    }

    private func endBurst() {
        if self.tally.report(to: self.meter) { self.onActivity() }
    }

    /// The other side ended the flow (idle, or gone): a flow has no half-closed state, so the
    /// stream closes, and with it the flow here.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.abort()
    }
}
