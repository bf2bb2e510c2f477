import NIOCore

/// Socket settings shared by every connection that carries tunnel bytes.
enum SocketTuning {
    /// Reads grow up to 256 KiB when a connection is busy (NIO's default stops at 64 KiB), so
    /// a bulk transfer costs fewer syscalls and frames; an idle connection still reads small.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
}
