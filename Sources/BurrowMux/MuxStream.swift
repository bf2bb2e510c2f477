import NIOCore
import Synchronization

/// One yamux stream as a NIO child `Channel` of the session's channel.
///
/// The stream buffers what the peer sends until its pipeline asks to `read()` (with autoRead, at
/// once) and gives credit back only for bytes the pipeline has taken. It holds what its pipeline
/// writes until flush, then sends as much as the peer's window allows; the rest waits for a
/// window update, and the channel reports itself unwritable meanwhile so that producers (a
/// `GlueHandler`) stop reading their side.
///
/// The *channel* and the *wire stream* end separately: `close()` sends FIN after the data
/// already flushed and closes the channel at once, while the stream lingers in the session until
/// the peer's FIN (or RST) ends it on the wire, like a TCP socket in FIN_WAIT. Data that arrives
/// for a closed channel is answered with RST, as TCP does.
///
/// All state is confined to the session's event loop.
final class MuxStream {
    let id: UInt32
    private let session: MuxSessionHandler
    private var state: StreamStateMachine
    private var receiveWindow: ReceiveWindow
    private var sendWindow = SendWindow()

    /// Data received and not yet delivered to the pipeline.
    private var pendingReads = CircularBuffer<ByteBuffer>(initialCapacity: 4)
    /// The peer's FIN arrived; deliver it after `pendingReads`.
    private var pendingEOF = false
    /// The pipeline called `read()` with nothing to deliver yet.
    private var unsatisfiedRead = false
    /// Some reads were delivered during the parent's read burst; fire readComplete at its end.
    private var needsReadComplete = false

    /// Writes from the pipeline, oldest first; the first `flushedWrites` of them were flushed.
    private var pendingWrites = CircularBuffer<(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)>(initialCapacity: 4)
    private var flushedWrites = 0
    private var pendingWriteBytes = 0
    /// `close(mode: .output)` or `close()` asked for FIN; it goes out after the flushed writes.
    private var finRequested = false
    private var finPromise: EventLoopPromise<Void>?

    private var autoRead: Bool
    private var allowRemoteHalfClosure = false
    private var channelClosed = false
    private var activated = false
    private var inputClosed = false

    private let closePromise: EventLoopPromise<Void>
    private var _pipeline: ChannelPipeline!
    // Read from any thread through `Channel.isActive` / `isWritable`.
    private let _isActive = Atomic(false)
    private let _isWritable = Atomic(true)

    let eventLoop: EventLoop
    let allocator: ByteBufferAllocator
    let parentChannel: Channel

    init(id: UInt32, state: StreamStateMachine, session: MuxSessionHandler, parent: Channel, maximumWindow: UInt32) {
        self.id = id
        self.state = state
        self.session = session
        self.parentChannel = parent
        self.eventLoop = parent.eventLoop
        self.allocator = parent.allocator
        self.receiveWindow = ReceiveWindow(maximum: maximumWindow)
        self.closePromise = parent.eventLoop.makePromise()
        self.autoRead = true
        self._pipeline = ChannelPipeline(channel: self)
        Self.live.increment()
    }

    deinit { Self.live.decrement() }

    static let live = LiveObjects("MuxStream")

    /// Whether the stream is done on the wire and as a channel, so the session can forget it.
    var isFinished: Bool { self.channelClosed && self.state.isFinished }
}

extension MuxSessionHandler {
    /// How many streams are alive, in every session (see `LiveObjects`).
    public static var liveStreams: LiveObjects { MuxStream.live }
}

// The stream's state is only touched on its event loop.
extension MuxStream: @unchecked Sendable {}

// MARK: - Driven by the session

extension MuxStream {
    /// Sends the SYN (for a stream we open) or ACK (for one the peer opened) at once, so the peer
    /// learns of the stream before any data is written.
    func sendOpeningFrame() {
        let flags = self.state.openingFlags()
        guard !flags.isEmpty else { return }
        self.session.writeFrame(.windowUpdate, flags: flags, streamID: self.id, length: 0, payload: nil, promise: nil)
    }

    /// Runs the user's initializer, then activates the channel.
    func configure(initializer: MuxSessionHandler.StreamInitializer?, promise: EventLoopPromise<Channel>?) {
        self.pipeline.fireChannelRegistered()
        let initialized = initializer?(self) ?? self.eventLoop.makeSucceededVoidFuture()
        initialized.hop(to: self.eventLoop).assumeIsolatedUnsafeUnchecked().whenComplete { result in
            switch result {
            case .success where self.channelClosed:
                // Reset or orphaned by the session while the initializer ran.
                promise?.fail(MuxError.streamClosed(self.id))
            case .success:
                self.activate()
                promise?.succeed(self)
            case .failure(let error):
                promise?.fail(error)
                self.reset(error: error)
            }
        }
    }

    private func activate() {
        guard !self.channelClosed, !self.activated else { return }
        self.activated = true
        self._isActive.store(true, ordering: .relaxed)
        self.pipeline.fireChannelActive()
        self.updateWritability()
        if self.autoRead { self.pipeline.read() }
        // The peer may have finished before we were ready.
        self.deliverEOFIfDue()
    }

    /// A data frame of `length` bytes begins: throws a session error when it would overrun
    /// the window (checked before any of it is buffered).
    func expectData(_ length: Int) throws(MuxError) {
        guard length <= Int(self.receiveWindow.available) else {
            throw MuxError.windowExceeded(self.id, length: length, available: Int(self.receiveWindow.available))
        }
    }

    /// Data for this stream (a whole frame's payload or a chunk of it). Throws a session error
    /// when the peer overran the window.
    func receiveData(_ payload: ByteBuffer, flags: Frame.Flags) throws(MuxError) {
        let effect = try self.state.receive(flags: flags, carriesData: payload.readableBytes > 0, streamID: self.id)
        if payload.readableBytes > 0 {
            try self.receiveWindow.receive(payload.readableBytes, streamID: self.id)
            if self.channelClosed {
                // Nobody will ever read this: tell the peer, as TCP does for a closed socket.
                self.reset(error: MuxError.streamClosed(self.id))
                return
            }
            self.pendingReads.append(payload)
        }
        self.apply(effect)
        if self.unsatisfiedRead { self.deliverReads(inParentReadBurst: true) }
    }

    /// A window update for this stream: more credit, possibly with flags.
    func receiveWindowUpdate(delta: UInt32, flags: Frame.Flags) throws(MuxError) {
        let effect = try self.state.receive(flags: flags, carriesData: false, streamID: self.id)
        if effect != .reset {
            try self.sendWindow.grant(delta, streamID: self.id)
        }
        self.apply(effect)
        if effect != .reset { self.sendPendingWrites() }
    }

    private func apply(_ effect: StreamStateMachine.InboundEffect) {
        switch effect {
        case .none:
            break
        case .remoteFinished:
            self.pendingEOF = true
            self.deliverEOFIfDue()
            self.session.streamMayHaveFinished(self)
        case .reset:
            self.failPendingWrites(MuxError.streamReset(self.id))
            self.pendingReads.removeAll()
            self.closeChannel(error: MuxError.streamReset(self.id))
        }
    }

    /// The parent's read burst ended: complete the reads delivered during it.
    func parentReadComplete() {
        guard self.needsReadComplete else { return }
        self.needsReadComplete = false
        self.pipeline.fireChannelReadComplete()
        if self.autoRead, !self.channelClosed { self.pipeline.read() }
    }

    /// The session's channel changed writability.
    func parentWritabilityChanged() {
        self.updateWritability()
    }

    /// The session is gone: every stream ends with it.
    func sessionClosed(error: Error) {
        self.failPendingWrites(error)
        self.pendingReads.removeAll()
        _ = self.state.sendRST()
        self.closeChannel(error: error)
    }

    /// Aborts the stream: RST to the peer, the channel closed with `error`.
    func reset(error: Error) {
        if self.state.sendRST() {
            self.session.writeFrame(.windowUpdate, flags: .rst, streamID: self.id, length: 0, payload: nil, promise: nil)
            self.session.flushIfNeeded()
        }
        self.failPendingWrites(error)
        self.pendingReads.removeAll()
        self.closeChannel(error: error)
        self.session.streamMayHaveFinished(self)
    }
}

// MARK: - Reads

extension MuxStream {
    /// Hands buffered data to the pipeline and returns credit for it.
    private func deliverReads(inParentReadBurst: Bool) {
        guard !self.channelClosed, self.activated, !self.pendingReads.isEmpty else { return }
        self.unsatisfiedRead = false
        var delivered = 0
        while let buffer = self.pendingReads.popFirst() {
            delivered += buffer.readableBytes
            self.pipeline.fireChannelRead(buffer)
            if self.channelClosed { return }
        }
        // Once the peer has sent FIN it needs no more credit (and may already have forgotten
        // the stream), so none is sent.
        if let delta = self.receiveWindow.consume(delivered), self.state.canReceive {
            self.session.writeFrame(.windowUpdate, flags: self.state.openingFlags(), streamID: self.id, length: delta, payload: nil, promise: nil)
        }
        if inParentReadBurst {
            self.needsReadComplete = true
            self.session.streamNeedsReadComplete(self)
        } else {
            self.session.flushIfNeeded()
            self.pipeline.fireChannelReadComplete()
            if self.autoRead, !self.channelClosed { self.pipeline.read() }
        }
        self.deliverEOFIfDue()
    }

    /// Tells the pipeline that the peer finished sending, once all its data was read.
    private func deliverEOFIfDue() {
        guard self.pendingEOF, self.pendingReads.isEmpty, self.activated, !self.channelClosed, !self.inputClosed else { return }
        self.inputClosed = true
        if self.allowRemoteHalfClosure {
            self.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            if !self.state.canSend { self.closeChannel(error: nil) }
        } else {
            self.close0(error: ChannelError.eof, mode: .all, promise: nil)
        }
    }
}

// MARK: - Writes

extension MuxStream {
    /// Sends flushed writes while the peer's window allows, then FIN if one was asked for.
    private func sendPendingWrites() {
        let maximumFrame = self.session.configuration.maximumFrameSize
        var wrote = false
        while self.flushedWrites > 0, self.state.canSend, self.sendWindow.credit > 0 {
            let head = self.pendingWrites.startIndex
            let size = min(self.pendingWrites[head].buffer.readableBytes, maximumFrame)
            let granted = self.sendWindow.take(upTo: size)
            let flags = self.state.openingFlags()
            if granted == self.pendingWrites[head].buffer.readableBytes {
                let (buffer, promise) = self.pendingWrites.removeFirst()
                self.flushedWrites -= 1
                self.session.writeFrame(.data, flags: flags, streamID: self.id, length: UInt32(granted), payload: buffer, promise: promise)
            } else {
                let slice = self.pendingWrites[head].buffer.readSlice(length: granted)!
                self.session.writeFrame(.data, flags: flags, streamID: self.id, length: UInt32(granted), payload: slice, promise: nil)
            }
            self.pendingWriteBytes -= granted
            wrote = true
        }
        if self.finRequested, self.pendingWrites.isEmpty, self.state.sendFIN() {
            let flags = self.state.openingFlags().union(.fin)
            self.session.writeFrame(.windowUpdate, flags: flags, streamID: self.id, length: 0, payload: nil, promise: self.finPromise)
            self.finPromise = nil
            wrote = true
            if self.inputClosed { self.closeChannel(error: nil) }
            self.session.streamMayHaveFinished(self)
        }
        if wrote { self.session.flushIfNeeded() }
        self.updateWritability()
    }

    private func failPendingWrites(_ error: Error) {
        while let (_, promise) = self.pendingWrites.popFirst() {
            promise?.fail(error)
        }
        self.flushedWrites = 0
        self.pendingWriteBytes = 0
        self.finPromise?.fail(error)
        self.finPromise = nil
    }

    /// Writable while the bytes waiting to go out fit in the peer's window and the session's
    /// channel itself is writable.
    private func updateWritability() {
        let writable = !self.channelClosed && self.session.isParentWritable
            && self.pendingWriteBytes <= Int(self.sendWindow.credit)
        let changed = self._isWritable.exchange(writable, ordering: .relaxed) != writable
        if changed, self.activated, !self.channelClosed {
            self.pipeline.fireChannelWritabilityChanged()
        }
    }
}

// MARK: - Closing

extension MuxStream {
    private func requestFIN(promise: EventLoopPromise<Void>?) {
        self.finRequested = true
        self.finPromise = promise
        // Everything written before close is sent before the FIN.
        self.flushedWrites = self.pendingWrites.count
        self.sendPendingWrites()
    }

    /// Ends the channel (not necessarily the wire stream).
    private func closeChannel(error: Error?) {
        guard !self.channelClosed else { return }
        self.channelClosed = true
        self._isActive.store(false, ordering: .relaxed)
        if let error, self.activated, !(error is ChannelError) {
            self.pipeline.fireErrorCaught(error)
        }
        if self.activated { self.pipeline.fireChannelInactive() }
        self.pipeline.fireChannelUnregistered()
        self.eventLoop.execute {
            self.removeHandlers(pipeline: self.pipeline)
            self.closePromise.succeed(())
        }
        self.session.streamMayHaveFinished(self)
    }
}

// MARK: - Channel

extension MuxStream: Channel, ChannelCore {
    var pipeline: ChannelPipeline { self._pipeline }
    var closeFuture: EventLoopFuture<Void> { self.closePromise.futureResult }
    var parent: Channel? { self.parentChannel }
    var localAddress: SocketAddress? { self.parentChannel.localAddress }
    var remoteAddress: SocketAddress? { self.parentChannel.remoteAddress }
    var isWritable: Bool { self._isWritable.load(ordering: .relaxed) }
    var isActive: Bool { self._isActive.load(ordering: .relaxed) }
    var _channelCore: ChannelCore { self }

    func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        if self.eventLoop.inEventLoop {
            return self.eventLoop.makeCompletedFuture { try self.setOption0(option, value: value) }
        }
        return self.eventLoop.submit { try self.setOption0(option, value: value) }
    }

    func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        if self.eventLoop.inEventLoop {
            return self.eventLoop.makeCompletedFuture { try self.getOption0(option) }
        }
        return self.eventLoop.submit { try self.getOption0(option) }
    }

    var syncOptions: NIOSynchronousChannelOptions? { SynchronousOptions(stream: self) }

    private struct SynchronousOptions: NIOSynchronousChannelOptions {
        let stream: MuxStream
        func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
            try self.stream.setOption0(option, value: value)
        }
        func getOption<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
            try self.stream.getOption0(option)
        }
    }

    fileprivate func setOption0<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        self.eventLoop.preconditionInEventLoop()
        switch option {
        case _ as ChannelOptions.Types.AutoReadOption:
            let enable = value as! Bool
            let wasOff = !self.autoRead
            self.autoRead = enable
            if enable, wasOff, self.activated { self.read0() }
        case _ as ChannelOptions.Types.AllowRemoteHalfClosureOption:
            self.allowRemoteHalfClosure = value as! Bool
        default:
            throw ChannelError.operationUnsupported
        }
    }

    fileprivate func getOption0<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        self.eventLoop.preconditionInEventLoop()
        switch option {
        case _ as ChannelOptions.Types.AutoReadOption:
            return self.autoRead as! Option.Value
        case _ as ChannelOptions.Types.AllowRemoteHalfClosureOption:
            return self.allowRemoteHalfClosure as! Option.Value
        case _ as MuxStreamOptions.Types.StreamIDOption:
            return self.id as! Option.Value
        case _ as MuxStreamOptions.Types.BufferedInboundBytesOption:
            return self.receiveWindow.buffered as! Option.Value
        case _ as MuxStreamOptions.Types.ReceiveWindowOption:
            return self.receiveWindow.window as! Option.Value
        default:
            throw ChannelError.operationUnsupported
        }
    }

    func localAddress0() throws -> SocketAddress {
        try self.parentChannel._channelCore.localAddress0()
    }

    func remoteAddress0() throws -> SocketAddress {
        try self.parentChannel._channelCore.remoteAddress0()
    }

    func register0(promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func bind0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func connect0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !self.channelClosed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard !self.finRequested, self.state.canSend else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        let buffer = self.unwrapData(data, as: ByteBuffer.self)
        guard buffer.readableBytes > 0 else {
            promise?.succeed(())
            return
        }
        self.pendingWrites.append((buffer, promise))
        self.pendingWriteBytes += buffer.readableBytes
        self.updateWritability()
    }

    func flush0() {
        guard self.flushedWrites < self.pendingWrites.count else { return }
        self.flushedWrites = self.pendingWrites.count
        self.sendPendingWrites()
    }

    func read0() {
        guard !self.channelClosed else { return }
        self.unsatisfiedRead = true
        if !self.pendingReads.isEmpty {
            self.deliverReads(inParentReadBurst: self.session.isInReadBurst)
        }
    }

    func close0(error: Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            promise?.fail(ChannelError.operationUnsupported)
        case .output:
            guard !self.channelClosed else {
                promise?.fail(ChannelError.alreadyClosed)
                return
            }
            guard !self.finRequested, self.state.canSend else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            self.requestFIN(promise: promise)
        case .all:
            guard !self.channelClosed else {
                promise?.fail(ChannelError.alreadyClosed)
                return
            }
            if !self.finRequested, self.state.canSend {
                self.requestFIN(promise: nil)
            }
            self.closeChannel(error: nil)
            self.closeFuture.cascade(to: promise)
        }
    }

    func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        guard event is MuxStreamResetEvent else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        guard !self.channelClosed else {
            promise?.fail(ChannelError.alreadyClosed)
            return
        }
        self.reset(error: ChannelError.ioOnClosedChannel)
        promise?.succeed(())
    }

    func channelRead0(_ data: NIOAny) {
        // Reads that reach the head of a stream's pipeline unhandled are dropped, as in NIO.
    }

    func errorCaught0(error: Error) {
        // Errors that reach the head of the pipeline unhandled are dropped, as in NIO.
    }
}

extension MuxStream: CustomStringConvertible {
    var description: String { "MuxStream(id: \(self.id), \(self.state.closing))" }
}
