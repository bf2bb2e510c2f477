/// Receive-side flow control of one stream: how much the peer may still send, and when to give
/// credit back.
///
/// Credit is returned only for bytes the stream's consumer has taken (`consumed`), never on
/// arrival, so a stalled reader holds at most one window of data. Updates are batched until at
/// least half the window is owed, as yamux implementations expect. The window doubles (up to
/// `maximum`) when the sender ran out of credit while the consumer had caught up: the window,
/// not the reader, was the bottleneck.
///
/// Invariant: `window == available + buffered + owed`.
public struct ReceiveWindow: Equatable, Sendable {
    /// Every yamux stream starts with this window on both sides.
    public static let initial: UInt32 = 256 * 1024

    /// The window currently granted to the peer.
    public private(set) var window: UInt32
    /// The largest window this stream may grow to.
    public let maximum: UInt32
    /// Credit the peer still holds.
    public private(set) var available: UInt32
    /// Bytes received but not yet taken by the consumer.
    public private(set) var buffered: Int = 0
    /// Bytes consumed but not yet credited back to the peer.
    private var owed: UInt32 = 0
    /// Whether the peer used up all its credit since the last update.
    private var senderStalled = false

    public init(maximum: UInt32) {
        self.window = Self.initial
        self.available = Self.initial
        self.maximum = max(maximum, Self.initial)
    }

    /// Accounts for `count` bytes of inbound data. Throws when the peer overran its credit.
    public mutating func receive(_ count: Int, streamID: UInt32) throws(MuxError) {
        guard count <= Int(self.available) else {
            throw MuxError.windowExceeded(streamID, length: count, available: Int(self.available))
        }
        self.available -= UInt32(count)
        self.buffered += count
        if self.available == 0 { self.senderStalled = true }
    }

    /// Accounts for `count` bytes handed to the consumer. Returns the window update to send, if
    /// one is due.
    public mutating func consume(_ count: Int) -> UInt32? {
        precondition(count <= self.buffered, "consumed more than was buffered")
        self.buffered -= count
        self.owed += UInt32(count)
        guard self.owed >= self.window / 2 else { return nil }

        var delta = self.owed
        if self.senderStalled && self.buffered == 0 && self.window < self.maximum {
            let grown = min(self.window * 2, self.maximum)
            delta += grown - self.window
            self.window = grown
        }
        self.senderStalled = false
        self.owed = 0
        self.available += delta
        return delta
    }
}

/// Send-side flow control of one stream: the credit the peer granted us.
public struct SendWindow: Equatable, Sendable {
    /// The most a yamux window may ever hold.
    public static let limit: UInt32 = (1 << 31) - 1

    public private(set) var credit: UInt32 = ReceiveWindow.initial

    public init() {}

    /// Adds the peer's window update. Throws when the window would pass 2^31-1.
    public mutating func grant(_ delta: UInt32, streamID: UInt32) throws(MuxError) {
        guard UInt64(self.credit) + UInt64(delta) <= UInt64(Self.limit) else {
            throw MuxError.windowOverflow(streamID)
        }
        self.credit += delta
    }

    /// Takes up to `wanted` bytes of credit for one frame and returns how many may be sent.
    public mutating func take(upTo wanted: Int) -> Int {
        let granted = min(wanted, Int(self.credit))
        self.credit -= UInt32(granted)
        return granted
    }
}
