import BurrowCore
import BurrowMux
import BurrowProtocol
import BurrowTransport
import Logging
import NIOCore

/// The client's side of a visitor stream: reads the header, dials the local service, glues.
///
/// The stream is not auto-read until the local service is connected, so a visitor that talks
/// first waits in the mux window (credit is not returned) rather than in memory here. If the
/// service cannot be reached, the stream is reset: the server closes the visitor at once, and
/// one line names client, proxy, address and cause.
final class VisitorStreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let proxies: ProxyTable
    private let logger: Logger
    private let onEvent: @Sendable (TunnelClient.Event) -> Void
    private var buffered = ByteBuffer()
    private var dialing = false
    /// The visitor finished sending before the service was connected: replayed after the glue.
    private var sawEOF = false

    init(proxies: ProxyTable, logger: Logger, onEvent: @escaping @Sendable (TunnelClient.Event) -> Void) {
        self.proxies = proxies
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Sets up a visitor stream the server opened. Call on the stream's event loop.
    static func install(
        on stream: Channel, proxies: ProxyTable, logger: Logger, onEvent: @escaping @Sendable (TunnelClient.Event) -> Void = { _ in }
    ) throws {
        try stream.syncOptions!.setOption(ChannelOptions.autoRead, value: false)
        try stream.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        try stream.pipeline.syncOperations.addHandler(Self(proxies: proxies, logger: logger, onEvent: onEvent))
    }

    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        self.buffered.writeBuffer(&incoming)
        guard !self.dialing else { return }
        do {
            guard let header = try VisitorHeader.read(from: &self.buffered) else {
                context.read()
                return
            }
            self.dial(header, context: context)
        } catch {
            self.logger.warning("bad visitor header from the server: \(error): stream reset")
            context.triggerUserOutboundEvent(MuxStreamResetEvent(), promise: nil)
        }
    }

    private func dial(_ header: VisitorHeader, context: ChannelHandlerContext) {
        guard let service = self.proxies.entry(header.proxy) else {
            self.logger.warning("proxy \(header.proxy): visitor \(header.visitorAddress) for a proxy this client does not publish: stream reset")
            context.triggerUserOutboundEvent(MuxStreamResetEvent(), promise: nil)
            return
        }
        self.dialing = true
        let stream = context.channel
        service.dialer.dial(on: context.eventLoop)
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let kind = service.proxy.type == .udp ? "flow" : "visitor"
                    let label = "proxy \(header.proxy): \(kind) of \(header.visitorAddress)"
                    guard self.join(stream: stream, service: channel, entry: service, label: label, context: context),
                          service.proxy.type == .udp else { return }
                    // A UDP flow: one per visitor address, open until it idles out.
                    let (proxy, visitor, onEvent, logger) = (header.proxy, header.visitorAddress, self.onEvent, self.logger)
                    logger.debug("\(label) opened to \(service.dialer)")
                    onEvent(.flowOpened(proxy: proxy, visitor: visitor))
                    stream.closeFuture.whenComplete { _ in
                        logger.debug("\(label) closed")
                        onEvent(.flowClosed(proxy: proxy, visitor: visitor))
                    }
                case .failure(let error):
                    service.meter.localConnectFailed()
                    self.logger.warning(
                        "proxy \(header.proxy): cannot reach local service \(service.dialer) for visitor \(header.visitorAddress): \(ErrorText.explain(error))")
                    context.triggerUserOutboundEvent(MuxStreamResetEvent(), promise: nil)
                }
            }
    }

    /// Joins the stream to its service; false when the stream ended first or the join failed.
    @discardableResult
    private func join(stream: Channel, service: Channel, entry: ProxyTable.Entry, label: String, context: ChannelHandlerContext) -> Bool {
        guard stream.isActive else {
            service.close(promise: nil)
            return false
        }
        let meter = entry.meter
        do {
            try entry.dialer.join(stream, to: service, label: label, logger: self.logger, meter: meter)
        } catch {
            service.close(promise: nil)
            context.triggerUserOutboundEvent(MuxStreamResetEvent(), promise: nil)
            return false
        }
        meter.visitorArrived()
        stream.closeFuture.whenComplete { _ in meter.visitorLeft() }
        // Bytes that came with the header go first (and an end of input held meanwhile), then
        // the stream reads freely.
        let leftover = self.buffered
        self.buffered = ByteBuffer()
        context.handOver(leftover, inputClosed: self.sawEOF)
        try? stream.syncOptions!.setOption(ChannelOptions.autoRead, value: true)
        return true
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The visitor may half-close before the service is connected: hold it for the glue.
        if case .some(.inputClosed) = event as? ChannelEvent {
            self.sawEOF = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
