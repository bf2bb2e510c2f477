import BurrowClient
import BurrowCore
import Testing

@Suite struct BackoffTests {
    /// Always draws the largest value: shows the ceilings.
    struct Maximum: RandomNumberGenerator {
        mutating func next() -> UInt64 { .max }
    }

    @Test func ceilingsDoubleFromTheFirstRetryUpToTheCap() {
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(30))
        var random = Maximum()
        let delays = (0..<8).map { _ in backoff.nextDelay(using: &random) }
        #expect(delays.allSatisfy { $0 <= .seconds(30) })
        #expect(backoff.ceiling == .seconds(30))
        #expect(backoff.failures == 8)
    }

    @Test func everyDelayIsWithinItsCeilingAndResetStartsOver() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
        for expectedCeiling in [100, 200, 400, 800, 1600, 2000, 2000] {
            let delay = backoff.nextDelay()
            #expect(backoff.ceiling == .milliseconds(expectedCeiling))
            #expect(delay >= .zero && delay <= .milliseconds(expectedCeiling))
        }
        backoff.reset()
        _ = backoff.nextDelay()
        #expect(backoff.ceiling == .milliseconds(100))
    }

    @Test func fullJitterSpreadsRetries() {
        var backoff = Backoff(initial: .seconds(8), maximum: .seconds(8))
        let delays = Set((0..<50).map { _ in backoff.nextDelay() })
        #expect(delays.count > 40)
    }
}
