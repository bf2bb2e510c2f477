import BurrowProtocol
import NIOCore

/// The first bytes of a session, held until the peer's preamble can be judged: both handshake
/// handlers read through one of these, so the two sides buffer, classify and hand over the
/// same way.
struct PreambleBuffer {
    private(set) var bytes = ByteBuffer()

    /// Adds a read and says what the bytes so far are.
    mutating func append(_ incoming: inout ByteBuffer) -> Preamble.Verdict {
        self.bytes.writeBuffer(&incoming)
        return Preamble.classify(self.bytes.readableBytesView)
    }

    var count: Int { self.bytes.readableBytes }

    /// What came after an accepted preamble, leaving the buffer empty.
    mutating func takeRest() -> ByteBuffer {
        self.bytes.moveReaderIndex(forwardBy: min(Preamble.length, self.bytes.readableBytes))
        defer { self.bytes = ByteBuffer() }
        return self.bytes
    }
}

extension ChannelHandlerContext {
    /// Passes `leftover` (bytes that arrived while this handler held the channel: after a
    /// preamble, with a visitor header), and an end of input it held back, to the handlers after
    /// it, and removes it: they read on as if they had been there from the start.
    public func handOver(_ leftover: ByteBuffer, inputClosed: Bool = false) {
        if leftover.readableBytes > 0 {
            self.fireChannelRead(NIOAny(leftover))
            self.fireChannelReadComplete()
        }
        if inputClosed {
            self.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        self.pipeline.syncOperations.removeHandler(context: self, promise: nil)
    }
}
