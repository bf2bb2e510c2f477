import BurrowConfig
import BurrowCore
import BurrowTransport
import Logging
import NIOCore
import NIOPosix

/// A UDP public port: each visitor address is a flow, carried by a mux stream of its own that
/// the session opens on the flow's first datagram. Flows idle for the proxy's timeout close;
/// beyond its cap a new visitor is dropped while existing flows go on. Flows, datagrams and
/// drops count into the proxy's meter.
struct UDPPublicListener: PublicListener {
    /// Opens the stream of a new flow (the session writes its header); succeeds with it.
    typealias OpenFlow = @Sendable (_ visitor: SocketAddress) -> EventLoopFuture<Channel>

    let key: SessionRegistry.PortKey
    private let channel: Channel

    static func bind(
        host: String, port: Int, on loop: EventLoop, settings: UDPFlowSettings, label: String, logger: Logger,
        meter: ProxyMeter, openFlow: @escaping OpenFlow
    ) async throws -> UDPPublicListener {
        let channel = try await DatagramBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.recvAllocator, value: SocketTuning.datagramAllocator)
            .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(SocketTuning.publicDatagramReceiveBuffer))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        UDPFlowDispatcher(settings: settings, label: label, logger: logger, meter: meter, openFlow: openFlow)
                    )
                }
            }
            .bind(host: host, port: port).get()
        return UDPPublicListener(key: .init(.udp, port), channel: channel)
    }

    func close() async {
        try? await self.channel.close()
    }
}

/// On a UDP public socket: hands each datagram to its visitor's flow, opening flows on demand
/// and closing idle ones. Event-loop confined, like the socket.
final class UDPFlowDispatcher: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private final class Flow {
        /// Nil until the stream is open.
        var stream: Channel?
        /// Datagrams that came before the stream opened (copies sized to fit, not the 64 KiB
        /// receive buffers they arrived in), bounded by `pendingLimit`.
        var pending: [ByteBuffer] = []
        var pendingBytes = 0
        var lastActive: NIODeadline

        init(now: NIODeadline) {
            self.lastActive = now
        }
    }

    /// What a flow may hold while its stream opens: a few datagrams, not a flood. Counted in
    /// bytes and in datagrams, so a flood of tiny ones is bounded too.
    static let pendingLimit = (bytes: 64 * 1024, datagrams: 64)

    private let settings: UDPFlowSettings
    /// Names the proxy in log lines: "proxy dns of client lab".
    private let label: String
    private let logger: Logger
    private let meter: ProxyMeter
    private let openFlow: UDPPublicListener.OpenFlow
    private var flows: [SocketAddress: Flow] = [:]
    /// Streams written in this read burst: flushed once at its end.
    private var unflushed: [Channel] = []
    private var sweep: RepeatedTask?
    /// Datagrams dropped (no room in a stream, a flow over the cap), since the last log line
    /// (the meter has them all).
    private var dropped = 0
    /// Datagrams from visitors into streams, and drops, in this burst: the meter hears at its end.
    private var tally = DatagramTally(.inbound)
    private var lastCapLine: NIODeadline?

    init(settings: UDPFlowSettings, label: String, logger: Logger, meter: ProxyMeter, openFlow: @escaping UDPPublicListener.OpenFlow) {
        self.settings = settings
        self.label = label
        self.logger = logger
        self.meter = meter
        self.openFlow = openFlow
    }

    private func drop() {
        self.dropped += 1
        self.tally.drop()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let idle = TimeAmount(self.settings.idleTimeout)
        let every = max(TimeAmount.milliseconds(10), .nanoseconds(idle.nanoseconds / 4))
        self.sweep = context.eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { _ in self.closeIdleFlows(idle: idle) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.sweep?.cancel()
        for flow in self.flows.values { flow.stream?.close(promise: nil) }
        self.flows.removeAll()
        context.fireChannelInactive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.endBurst()
        context.fireChannelReadComplete()
    }

    /// Flushes the streams written since the last time, and counts what went into them.
    private func endBurst() {
        for stream in self.unflushed { stream.flush() }
        self.unflushed.removeAll(keepingCapacity: true)
        self.tally.report(to: self.meter)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = self.unwrapInboundIn(data)
        let visitor = envelope.remoteAddress
        let now = NIODeadline.now()
        if let flow = self.flows[visitor] {
            flow.lastActive = now
            self.deliver(envelope.data, to: flow)
            return
        }
        guard self.flows.count < self.settings.maximumFlows else {
            self.drop()
            if self.lastCapLine.map({ now - $0 >= .seconds(10) }) ?? true {
                self.lastCapLine = now
                self.logger.warning("\(self.label): at its cap of \(self.settings.maximumFlows) flows: new visitor \(visitor.hostAndPort) dropped (existing flows go on)")
            }
            return
        }
        let flow = Flow(now: now)
        self.flows[visitor] = flow
        self.deliver(envelope.data, to: flow)
        let socket = context.channel
        self.openFlow(visitor).assumeIsolatedUnsafeUnchecked().whenComplete { result in
            switch result {
            case .success(let stream):
                guard self.flows[visitor] === flow else {
                    stream.close(promise: nil)
                    return
                }
                let meter = self.meter
                do {
                    try DatagramBridge.join(stream: stream, socket: socket, peer: visitor, meter: meter, direction: .outbound) {
                        flow.lastActive = .now()
                    }
                } catch {
                    stream.close(promise: nil)
                    return
                }
                flow.stream = stream
                meter.visitorArrived()
                self.logger.debug("\(self.label): flow of \(visitor.hostAndPort) opened")
                // Idle time counts from here: a session slow to open the stream is not the
                // visitor's silence.
                flow.lastActive = .now()
                stream.closeFuture.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                    meter.visitorLeft()
                    if self.flows[visitor] === flow { self.flows[visitor] = nil }
                }
                for payload in flow.pending { self.deliver(payload, to: flow) }
                flow.pending = []
                flow.pendingBytes = 0
                self.endBurst()
            case .failure(let error):
                self.logger.info("\(self.label): visitor \(visitor.hostAndPort) turned away: \(ErrorText.explain(error))")
                if self.flows[visitor] === flow { self.flows[visitor] = nil }
            }
        }
    }

    private func deliver(_ payload: ByteBuffer, to flow: Flow) {
        guard let stream = flow.stream else {
            guard flow.pendingBytes + payload.readableBytes <= Self.pendingLimit.bytes,
                flow.pending.count < Self.pendingLimit.datagrams
            else {
                self.drop()
                return
            }
            flow.pending.append(ByteBufferAllocator().buffer(buffer: payload))
            flow.pendingBytes += payload.readableBytes
            return
        }
        if DatagramBridge.send(payload, into: stream) {
            self.tally.carried(payload.readableBytes)
            if !self.unflushed.contains(where: { $0 === stream }) { self.unflushed.append(stream) }
        } else {
            self.drop()
        }
    }

    private func closeIdleFlows(idle: TimeAmount) {
        let now = NIODeadline.now()
        for (visitor, flow) in self.flows where flow.stream != nil && now - flow.lastActive >= idle {
            self.logger.debug("\(self.label): flow of \(visitor.hostAndPort) idle for \(self.settings.idleTimeout.shortDescription): closed")
            self.flows[visitor] = nil
            flow.stream?.close(promise: nil)
        }
        if self.dropped > 0 {
            self.logger.debug("\(self.label): \(self.dropped) datagrams dropped (no room in their stream, or over the flow cap)")
            self.dropped = 0
        }
    }
}
