import BurrowMux
import NIOCore
import NIOEmbedded

/// Two mux sessions joined back to back in memory, on one `EmbeddedEventLoop`: a dialer and an
/// acceptor. `interact()` moves bytes between them until neither has anything left to say.
public final class InMemorySessionPair {
    public let loop: EmbeddedEventLoop
    public let dialer: EmbeddedChannel
    public let acceptor: EmbeddedChannel
    public let dialerSession: MuxSessionHandler
    public let acceptorSession: MuxSessionHandler
    /// Every byte the dialer sent, for tests that inspect the wire.
    public private(set) var dialerBytes = 0

    public init(
        dialerConfiguration: MuxConfiguration = MuxConfiguration(role: .dialer),
        acceptorConfiguration: MuxConfiguration = MuxConfiguration(role: .acceptor),
        dialerInbound: MuxSessionHandler.StreamInitializer?,
        acceptorInbound: MuxSessionHandler.StreamInitializer?
    ) throws {
        self.loop = EmbeddedEventLoop()
        self.dialerSession = MuxSessionHandler(configuration: dialerConfiguration, inboundStreamInitializer: dialerInbound)
        self.acceptorSession = MuxSessionHandler(configuration: acceptorConfiguration, inboundStreamInitializer: acceptorInbound)
        self.dialer = EmbeddedChannel(loop: self.loop)
        self.acceptor = EmbeddedChannel(loop: self.loop)
        try self.dialer.pipeline.syncOperations.addHandler(self.dialerSession)
        try self.acceptor.pipeline.syncOperations.addHandler(self.acceptorSession)
        try self.dialer.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try self.acceptor.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
    }

    /// Shuttles bytes both ways until both sides are quiet. Each direction's pending writes
    /// arrive as one read burst, as they would from a socket.
    public func interact() throws {
        while try self.step() {}
    }

    /// One round: what each side has written so far reaches the other. Returns whether
    /// anything moved.
    @discardableResult
    public func step() throws -> Bool {
        self.loop.run()
        var ignored = 0
        let forward = try Self.shuttle(from: self.dialer, to: self.acceptor, count: &self.dialerBytes)
        let backward = try Self.shuttle(from: self.acceptor, to: self.dialer, count: &ignored)
        return forward || backward
    }

    private static func shuttle(from source: EmbeddedChannel, to target: EmbeddedChannel, count: inout Int) throws -> Bool {
        var moved = false
        while let buffer = try source.readOutbound(as: ByteBuffer.self) {
            guard target.isActive else { continue }
            count += buffer.readableBytes
            target.pipeline.fireChannelRead(buffer)
            moved = true
        }
        if moved, target.isActive {
            target.pipeline.fireChannelReadComplete()
            try target.throwIfErrorCaught()
        }
        return moved
    }
}
