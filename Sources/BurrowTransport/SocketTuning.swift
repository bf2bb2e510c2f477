import NIOCore
import NIOPosix

/// Socket settings shared by every connection that carries tunnel bytes.
public enum SocketTuning {
    /// Reads grow up to 256 KiB when a connection is busy (NIO's default stops at 64 KiB), so
    /// a bulk transfer costs fewer syscalls and frames; an idle connection still reads small.
    public static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)

    /// A UDP socket reads one datagram per read into a buffer of this size: NIO's default
    /// (2 KiB) would cut larger datagrams short, and UDP's largest is 65,527 bytes.
    public static let datagramAllocator = FixedSizeRecvByteBufferAllocator(capacity: 65_536)

    /// Receive buffers of UDP sockets. The kernel's default (208 KiB, about 90 datagrams of
    /// 1,200 bytes) overflows when the process is off the CPU for a tenth of a second at
    /// 8 Mbit/s, and a datagram that finds it full is lost. A public port is one socket for
    /// all its visitors, so it gets more than one flow's socket. The kernel caps both at
    /// net.core.rmem_max; the memory is only used while datagrams wait.
    public static let publicDatagramReceiveBuffer = 4 << 20
    public static let flowDatagramReceiveBuffer = 1 << 20
}

extension SocketTuning {
    /// Sets a fresh connection's options: the receive allocator, and half-closure when asked.
    /// Call on its event loop, from a bootstrap's initializer: NIO applies a bootstrap's
    /// `channelOption`s one future after another, a few allocations and casts each, which on
    /// every new visitor was a twentieth of the user CPU; set here they cost a call each.
    public static func configure(_ channel: Channel, halfClosure: Bool) throws {
        guard let options = channel.syncOptions else { return }
        try options.setOption(ChannelOptions.recvAllocator, value: Self.receiveAllocator)
        if halfClosure {
            try options.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        }
    }
}

extension ClientBootstrap {
    /// Connects to `host:port`; an IP literal skips name resolution, which NIO runs on a thread
    /// pool (a hop and a syscall per connection).
    public func connect(hostOrAddress host: String, port: Int) -> EventLoopFuture<Channel> {
        if let address = try? SocketAddress(ipAddress: host, port: port) {
            return self.connect(to: address)
        }
        return self.connect(host: host, port: port)
    }
}
