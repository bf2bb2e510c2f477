import NIOCore

/// Deterministic pseudo-random bytes (SplitMix64), so a failing test fails the same way twice.
public struct TestBytes {
    private var state: UInt64

    public init(seed: UInt64) {
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A buffer of `count` pseudo-random bytes.
    public mutating func buffer(count: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        var remaining = count
        while remaining >= 8 {
            buffer.writeInteger(self.next())
            remaining -= 8
        }
        for _ in 0..<remaining { buffer.writeInteger(UInt8(truncatingIfNeeded: self.next())) }
        return buffer
    }

    /// `count` bytes for a given seed: a window into one shared random block, starting at an
    /// offset chosen by the seed, so that different seeds give different bytes at once (tests
    /// moving hundreds of mebibytes cannot afford a generator per byte in debug builds).
    public static func buffer(seed: UInt64, count: Int) -> ByteBuffer {
        var generator = TestBytes(seed: seed)
        let offset = Int(generator.next() % UInt64(Self.blockSize / 2))
        var result = ByteBuffer()
        result.reserveCapacity(count)
        var remaining = count
        var start = offset
        while remaining > 0 {
            let take = min(remaining, Self.blockSize - start)
            result.writeImmutableBuffer(Self.block.getSlice(at: start, length: take)!)
            remaining -= take
            start = 0
        }
        return result
    }

    private static let blockSize = 4 << 20
    private static let block: ByteBuffer = {
        var generator = TestBytes(seed: 0x5EED)
        return generator.buffer(count: blockSize)
    }()
}
