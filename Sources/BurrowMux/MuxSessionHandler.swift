import NIOCore

/// The yamux session: the last handler of a byte-stream channel (TCP, TLS, WebSocket: it
/// never knows which), exposing every stream as a child `Channel`.
///
/// Inbound bytes are cut into frames and dispatched inline to the streams (no extra pipeline
/// hop per frame). Outbound, streams hand frames to the session, which writes header and
/// payload as two buffers (one vectored write, no copy) and flushes once per burst: at the end
/// of the parent's read burst when the write happened inside it, else at once.
///
/// A protocol violation by the peer is a session error: GoAway(protocol error), the error is
/// passed down the parent pipeline (so the owner can log it), and the channel closes. A stream
/// error resets that stream only.
///
/// Everything about it lives on its channel's event loop, and so do its streams: call it there.
public final class MuxSessionHandler {
    /// Sets up a new stream's pipeline before it becomes active.
    public typealias StreamInitializer = @Sendable (Channel) -> EventLoopFuture<Void>

    /// Events fired down the parent pipeline, for the session's owner.
    public enum Event: Sendable, Equatable {
        /// The peer sent GoAway: no new streams, open ones continue.
        case goAwayReceived(code: UInt32)
        /// A keepalive ping came back after this round trip.
        case pingAnswered(rtt: TimeAmount)
    }

    public let configuration: MuxConfiguration
    /// Dropped when the session ends: it is the owner's closure and may capture what holds the
    /// session's streams (a promise of the control stream, say), which would keep both alive.
    private var inboundStreamInitializer: StreamInitializer?
    private var ids: StreamIDSpace
    private var streams: [UInt32: MuxStream] = [:]
    private var parser: FrameParser
    /// The data frame whose payload is arriving: its stream (nil when dropped) and flags.
    private var currentData: (stream: MuxStream?, flags: Frame.Flags)?
    private var context: ChannelHandlerContext?
    /// Kept after removal so late callers get a failed future rather than a crash.
    private var eventLoop: EventLoop?

    private var sentGoAway = false
    private var receivedGoAway = false
    private var closed = false

    /// Inside the parent's read burst: flushes and readCompletes wait for its end.
    private(set) var isInReadBurst = false
    private var needsFlush = false
    private var streamsNeedingReadComplete: [MuxStream] = []

    private var nextPingID: UInt32 = 1
    private var pendingPings: [UInt32: (sent: NIODeadline, promise: EventLoopPromise<TimeAmount>?)] = [:]
    /// When the last byte came from the peer (the event loop's clock, virtual in tests).
    private var lastHeard = NIODeadline.uptimeNanoseconds(0)
    private var nextKeepAlivePing = NIODeadline.uptimeNanoseconds(0)
    private var keepAliveTask: Scheduled<Void>?

    /// - Parameters:
    ///   - configuration: role (which stream ids this side opens), windows, keepalive.
    ///   - inboundStreamInitializer: sets up streams the peer opens; nil refuses them all.
    public init(configuration: MuxConfiguration, inboundStreamInitializer: StreamInitializer?) {
        self.configuration = configuration
        self.inboundStreamInitializer = inboundStreamInitializer
        self.ids = StreamIDSpace(role: configuration.role)
        let largestFrame = max(Int(configuration.maximumWindow), Int(ReceiveWindow.initial))
        self.parser = FrameParser(maximumDataLength: largestFrame)
        Self.live.increment()
    }

    deinit { Self.live.decrement() }

    /// How many sessions are alive (see `LiveObjects`).
    public static let live = LiveObjects("MuxSessionHandler")

    /// How many streams the session holds (open, or closing on the wire).
    public var streamCount: Int { self.streams.count }

    /// How many streams the session's table has room for without growing: after a burst, back
    /// to a small multiple of `streamCount`.
    public var streamTableCapacity: Int { self.streams.capacity }

    /// The channel of a stream the session holds.
    public func stream(_ id: UInt32) -> Channel? { self.streams[id] }

    var isParentWritable: Bool { self.context?.channel.isWritable ?? false }
}

// MARK: - Public operations

extension MuxSessionHandler {
    /// Opens a stream to the peer. The SYN goes out at once; the returned channel is active
    /// once `initializer` has run, and may be written before the peer acknowledges.
    /// Call on the session's event loop.
    public func openStream(initializer: StreamInitializer? = nil) -> EventLoopFuture<Channel> {
        let promise = self.loop.makePromise(of: Channel.self)
        self.openStream0(initializer: initializer, promise: promise)
        return promise.futureResult
    }

    private func openStream0(initializer: StreamInitializer?, promise: EventLoopPromise<Channel>) {
        guard let context = self.context, !self.closed else {
            return promise.fail(MuxError.sessionClosed)
        }
        guard !self.sentGoAway, !self.receivedGoAway else {
            return promise.fail(MuxError.goAway(GoAwayCode.normal.rawValue))
        }
        guard self.streams.count < self.configuration.maximumStreams else {
            return promise.fail(MuxError.tooManyStreams(self.configuration.maximumStreams))
        }
        guard let id = self.ids.allocate() else {
            return promise.fail(MuxError.streamIDsExhausted)
        }
        let stream = MuxStream(
            id: id, state: .outbound(), session: self, parent: context.channel,
            maximumWindow: self.configuration.maximumWindow
        )
        self.streams[id] = stream
        stream.sendOpeningFrame()
        self.flushIfNeeded()
        stream.configure(initializer: initializer, promise: promise)
    }

    /// Measures the round trip to the peer with a ping. Call on the session's event loop.
    public func ping() -> EventLoopFuture<TimeAmount> {
        let promise = self.loop.makePromise(of: TimeAmount.self)
        self.sendPing(promise: promise)
        return promise.futureResult
    }

    /// Graceful shutdown: the peer may open no more streams, open ones run to their end, then
    /// the session's channel closes. Call on the session's event loop.
    public func goAway() {
        self.loop.preconditionInEventLoop()
        guard !self.sentGoAway, !self.closed else { return }
        self.sentGoAway = true
        self.writeFrame(.goAway, flags: [], streamID: 0, length: GoAwayCode.normal.rawValue, payload: nil, promise: nil)
        self.flushIfNeeded()
        self.closeIfDrained()
    }

    /// Ends the session because the peer broke a protocol above the mux (a malformed control
    /// message): GoAway with `code`, every stream reset, `error` passed down the parent pipeline
    /// for the owner's logs, the channel closed. Call on the session's event loop.
    public func fail(_ error: Error, goAway code: GoAwayCode = .protocolError) {
        guard let context = self.context else { return }
        self.loop.preconditionInEventLoop()
        self.fail(error, goAway: code, context: context)
    }

    /// The event loop of the session's channel; the handler must have been added to a pipeline.
    private var loop: EventLoop {
        guard let loop = self.eventLoop else {
            preconditionFailure("MuxSessionHandler used before it was added to a channel pipeline")
        }
        loop.preconditionInEventLoop()
        return loop
    }
}

// MARK: - Called by streams

extension MuxSessionHandler {
    /// Writes one frame: header, then payload as its own buffer. Not flushed here.
    func writeFrame(
        _ kind: Frame.Kind, flags: Frame.Flags, streamID: UInt32, length: UInt32,
        payload: ByteBuffer?, promise: EventLoopPromise<Void>?
    ) {
        guard let context = self.context, !self.closed else {
            promise?.fail(MuxError.sessionClosed)
            return
        }
        var header = context.channel.allocator.buffer(capacity: Frame.headerSize)
        header.writeFrameHeader(kind: kind, flags: flags, streamID: streamID, length: length)
        if let payload {
            context.write(NIOAny(header), promise: nil)
            context.write(NIOAny(payload), promise: promise)
        } else {
            context.write(NIOAny(header), promise: promise)
        }
        self.needsFlush = true
    }

    /// Flushes now, or at the end of the current read burst.
    func flushIfNeeded() {
        guard self.needsFlush, !self.isInReadBurst, let context = self.context else { return }
        self.needsFlush = false
        context.flush()
    }

    func streamNeedsReadComplete(_ stream: MuxStream) {
        self.streamsNeedingReadComplete.append(stream)
    }

    /// Forgets a stream once it is finished both as a channel and on the wire.
    func streamMayHaveFinished(_ stream: MuxStream) {
        guard stream.isFinished, self.streams[stream.id] === stream else { return }
        self.streams.removeValue(forKey: stream.id)
        self.shrinkStreamTableIfMostlyEmpty()
        self.closeIfDrained()
    }

    /// A dictionary keeps the room it grew to, so a burst of 10,000 visitors left ~200 KiB of
    /// table behind for the session's life. Rebuilt once an eighth full, with room for twice
    /// what is left: a rebuild copies what is left and comes only after most of the table
    /// emptied, so a removal stays O(1) amortised.
    private func shrinkStreamTableIfMostlyEmpty() {
        guard self.streams.capacity > Self.smallTable, self.streams.count < self.streams.capacity / 8 else { return }
        var smaller = [UInt32: MuxStream](minimumCapacity: self.streams.count * 2)
        for (id, stream) in self.streams { smaller[id] = stream }
        self.streams = smaller
    }

    /// Room a table or list keeps however empty it gets (enough for any steady tunnel's streams).
    static let smallTable = 256

    private func closeIfDrained() {
        guard self.sentGoAway, self.streams.isEmpty, !self.closed, let context = self.context else { return }
        self.flushIfNeeded()
        context.close(promise: nil)
    }
}

// MARK: - ChannelHandler

extension MuxSessionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Never
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.eventLoop = context.eventLoop
        if context.channel.isActive { self.startKeepAlive(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.shutDown(error: MuxError.sessionClosed)
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.startKeepAlive(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.shutDown(error: MuxError.sessionClosed)
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.closed else { return }
        self.isInReadBurst = true
        if self.keepAliveTask != nil { self.lastHeard = context.eventLoop.now }
        var input = self.unwrapInboundIn(data)
        do {
            while !self.closed, let event = try self.parser.next(from: &input) {
                switch event {
                case .frame(let frame):
                    try self.handle(frame)
                case .payload(let chunk, let last):
                    try self.handlePayload(chunk, last: last)
                }
            }
        } catch {
            self.sessionFailed(error, context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        self.isInReadBurst = false
        // Streams may write (window updates, echoes) while completing: flush after them.
        let completing = self.streamsNeedingReadComplete
        self.streamsNeedingReadComplete.removeAll(keepingCapacity: completing.count <= Self.smallTable)
        for stream in completing { stream.parentReadComplete() }
        self.flushIfNeeded()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        for stream in self.streams.values { stream.parentWritabilityChanged() }
        context.fireChannelWritabilityChanged()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A transport error: the session cannot go on.
        self.shutDown(error: error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

// MARK: - Inbound frames

extension MuxSessionHandler {
    private func handle(_ frame: Frame) throws {
        switch frame.kind {
        case .data, .windowUpdate:
            guard frame.streamID != 0 else { throw MuxError.invalidSessionFrame(frame) }
            try self.handleStreamFrame(frame)
        case .ping:
            guard frame.streamID == 0 else { throw MuxError.invalidSessionFrame(frame) }
            self.handlePing(frame)
        case .goAway:
            guard frame.streamID == 0 else { throw MuxError.invalidSessionFrame(frame) }
            try self.handleGoAway(code: frame.length)
        }
    }

    private func handleStreamFrame(_ frame: Frame) throws {
        let streams = self.streams
        let lookup = try self.ids.lookup(frame.streamID, flags: frame.flags) { streams[$0] != nil }
        var stream: MuxStream?
        switch lookup {
        case .finished:
            stream = nil  // in flight when we closed it: dropped
        case .live:
            stream = self.streams[frame.streamID]!
        case .opening:
            stream = self.acceptStream(frame.streamID)
        }
        let flags = frame.flags.subtracting(.syn)
        if frame.kind == .data, frame.length > 0 {
            // The payload follows in chunks; the window is checked for all of it now, the
            // flags (FIN) apply once it is all in.
            try stream?.expectData(Int(frame.length))
            self.currentData = (stream, flags)
            return
        }
        guard let stream else { return }
        try self.deliver(to: stream) { () throws(MuxError) in
            if frame.kind == .data {
                try stream.receiveData(ByteBuffer(), flags: flags)
            } else {
                try stream.receiveWindowUpdate(delta: frame.length, flags: flags)
            }
        }
    }

    /// A chunk of the current data frame's payload.
    private func handlePayload(_ chunk: ByteBuffer, last: Bool) throws {
        guard let (target, flags) = self.currentData else { return }
        if last { self.currentData = nil }
        // The stream may have ended while its frame was arriving.
        guard let stream = target, self.streams[stream.id] === stream else { return }
        try self.deliver(to: stream) { () throws(MuxError) in try stream.receiveData(chunk, flags: last ? flags : []) }
    }

    /// Runs a stream's share of a frame; a stream error resets that stream only.
    private func deliver(to stream: MuxStream, _ body: () throws(MuxError) -> Void) throws {
        do {
            try body()
        } catch {
            // Data or FIN after the peer's own FIN breaks that stream, not the session.
            guard !error.isSessionError || error.code == .unexpectedFlags else { throw error }
            stream.reset(error: error)
        }
        self.streamMayHaveFinished(stream)
    }

    /// A SYN from the peer: a new stream, or RST when we are going away or full.
    private func acceptStream(_ id: UInt32) -> MuxStream? {
        guard let context = self.context else { return nil }
        guard !self.sentGoAway, let initializer = self.inboundStreamInitializer,
            self.streams.count < self.configuration.maximumStreams
        else {
            self.writeFrame(.windowUpdate, flags: .rst, streamID: id, length: 0, payload: nil, promise: nil)
            return nil
        }
        let stream = MuxStream(
            id: id, state: .inbound(), session: self, parent: context.channel,
            maximumWindow: self.configuration.maximumWindow
        )
        self.streams[id] = stream
        stream.sendOpeningFrame()
        stream.configure(initializer: initializer, promise: nil)
        return stream
    }

    private func handlePing(_ frame: Frame) {
        if frame.flags.contains(.syn) {
            self.writeFrame(.ping, flags: .ack, streamID: 0, length: frame.length, payload: nil, promise: nil)
        } else if frame.flags.contains(.ack), let pending = self.pendingPings.removeValue(forKey: frame.length) {
            let rtt = NIODeadline.now() - pending.sent
            pending.promise?.succeed(rtt)
            self.context?.fireUserInboundEventTriggered(Event.pingAnswered(rtt: rtt))
        }
    }

    private func handleGoAway(code: UInt32) throws {
        guard code == GoAwayCode.normal.rawValue else { throw MuxError.goAway(code) }
        self.receivedGoAway = true
        self.context?.fireUserInboundEventTriggered(Event.goAwayReceived(code: code))
    }
}

// MARK: - Keepalive and shutdown

extension MuxSessionHandler {
    private func sendPing(promise: EventLoopPromise<TimeAmount>?) {
        guard !self.closed else {
            promise?.fail(MuxError.sessionClosed)
            return
        }
        let id = self.nextPingID
        self.nextPingID &+= 1
        self.pendingPings[id] = (.now(), promise)
        self.writeFrame(.ping, flags: .syn, streamID: 0, length: id, payload: nil, promise: nil)
        self.flushIfNeeded()
    }

    private func startKeepAlive(context: ChannelHandlerContext) {
        guard self.keepAliveTask == nil, let interval = self.configuration.keepAliveInterval, !self.closed else { return }
        let now = context.eventLoop.now
        self.lastHeard = now
        self.nextKeepAlivePing = now + interval
        self.scheduleKeepAlive(on: context.eventLoop)
    }

    /// Pings every interval, so that a healthy peer always has something to answer, and
    /// declares the link dead the moment `keepAliveMisses` intervals have passed without a
    /// single byte from the peer: the timer wakes at whichever comes first. The event loop's
    /// clock keeps this testable on an EmbeddedEventLoop's virtual time.
    private func scheduleKeepAlive(on loop: EventLoop) {
        guard let interval = self.configuration.keepAliveInterval, !self.closed else { return }
        let allowedSilence = interval * Int64(self.configuration.keepAliveMisses)
        let wake = min(self.nextKeepAlivePing, self.lastHeard + allowedSilence)
        self.keepAliveTask = loop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: wake) {
            guard let context = self.context, !self.closed else { return }
            let now = loop.now
            let silence = now - self.lastHeard
            if silence >= allowedSilence {
                let error = MuxError.keepAliveTimeout(milliseconds: silence.nanoseconds / 1_000_000)
                self.sessionFailed(error, context: context, sendGoAway: false)
                return
            }
            if now >= self.nextKeepAlivePing {
                // Unanswered keepalive pings are forgotten: only the silence matters.
                self.pendingPings = self.pendingPings.filter { $0.value.promise != nil }
                self.sendPing(promise: nil)
                self.nextKeepAlivePing = now + interval
            }
            self.scheduleKeepAlive(on: loop)
        }
    }

    /// The peer broke the protocol (or went silent): tell it why, report, close.
    private func sessionFailed(_ error: Error, context: ChannelHandlerContext, sendGoAway: Bool = true) {
        // A peer that went away with an error code is not answered with another.
        let answer = sendGoAway && (error as? MuxError).map { $0.code != .goAwayReceived } == true
        self.fail(error, goAway: answer ? .protocolError : nil, context: context)
    }

    private func fail(_ error: Error, goAway code: GoAwayCode?, context: ChannelHandlerContext) {
        guard !self.closed else { return }
        if let code {
            self.writeFrame(.goAway, flags: [], streamID: 0, length: code.rawValue, payload: nil, promise: nil)
            self.needsFlush = false
            context.flush()
        }
        self.shutDown(error: error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Ends every stream and pending ping with `error`.
    private func shutDown(error: Error) {
        guard !self.closed else { return }
        self.closed = true
        // Streams refer to the session: nothing of the session may go on referring to them,
        // or the two keep each other alive (a frame cut off mid-payload named its stream).
        self.inboundStreamInitializer = nil
        self.currentData = nil
        self.streamsNeedingReadComplete.removeAll()
        self.keepAliveTask?.cancel()
        self.keepAliveTask = nil
        let streams = self.streams.values
        self.streams.removeAll()
        for stream in streams { stream.sessionClosed(error: error) }
        for (_, pending) in self.pendingPings { pending.promise?.fail(error) }
        self.pendingPings.removeAll()
    }
}
