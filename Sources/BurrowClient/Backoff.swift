import BurrowCore

/// Exponential backoff with full jitter: attempt n waits a uniformly random time in
/// [0, min(cap, initial · 2^(n-1))]. Full jitter spreads a crowd of clients that lost the same
/// server, so they do not all come back in the same instant. A pure value: the random source
/// is injected, so tests pin it.
public struct Backoff: Sendable, Equatable {
    public let initial: Duration
    public let maximum: Duration
    /// Failed attempts since the last reset.
    public private(set) var failures = 0

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = max(maximum, initial)
    }

    /// The ceiling of the next delay.
    public var ceiling: Duration {
        var ceiling = self.initial
        for _ in 0..<max(0, self.failures - 1) where ceiling < self.maximum {
            ceiling *= 2
        }
        return min(ceiling, self.maximum)
    }

    /// Records a failure and returns how long to wait before the next attempt.
    public mutating func nextDelay<R: RandomNumberGenerator>(using random: inout R) -> Duration {
        self.failures += 1
        let ceiling = self.ceiling.attoseconds
        return Duration(attoseconds: Int128.random(in: 0...ceiling, using: &random))
    }

    public mutating func nextDelay() -> Duration {
        var random = SystemRandomNumberGenerator()
        return self.nextDelay(using: &random)
    }

    /// A session stayed healthy: start again from the shortest delay.
    public mutating func reset() {
        self.failures = 0
    }
}
