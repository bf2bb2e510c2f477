import Synchronization

/// Counts the live instances of the long-lived types (sessions, streams, their handlers), so a
/// leak shows as a number that does not come back down: the server prints them on SIGUSR1, the
/// churn bench samples them and the leak tests wait for them to return to zero.
///
/// A type counts itself with a `static let` counter, `increment()` in its initialiser and
/// `decrement()` in its deinitialiser: two relaxed atomic adds per object lifetime.
public final class LiveObjects: Sendable {
    /// The name printed in snapshots, usually the type's.
    public let name: String
    private let count = Atomic(0)

    private static let registry = Mutex<[LiveObjects]>([])

    /// A counter, registered under `name` for `snapshot()`.
    public init(_ name: String) {
        self.name = name
        Self.registry.withLock { $0.append(self) }
    }

    @inline(__always)
    public func increment() {
        self.count.add(1, ordering: .relaxed)
    }

    @inline(__always)
    public func decrement() {
        self.count.subtract(1, ordering: .relaxed)
    }

    /// How many instances are alive now.
    public var current: Int { self.count.load(ordering: .relaxed) }

    /// Every registered counter and its value, in registration order.
    public static func snapshot() -> [(name: String, count: Int)] {
        Self.registry.withLock { counters in counters.map { ($0.name, $0.current) } }
    }

    /// "ServerSession=0 MuxSessionHandler=0 MuxStream=0 ...", for a log line.
    public static func summary() -> String {
        Self.snapshot().map { "\($0.name)=\($0.count)" }.joined(separator: " ")
    }
}
