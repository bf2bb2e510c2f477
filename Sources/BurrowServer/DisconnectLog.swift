import NIOConcurrencyHelpers

/// The last few sessions that ended, newest first, with why: what the dashboard shows as
/// recent disconnect causes. Bounded: the oldest entry goes when a new one comes.
public final class DisconnectLog: Sendable {
    public struct Entry: Equatable, Sendable, Codable {
        public var client: String
        public var address: String
        public var cause: String
        /// When, in seconds since 1970 (UTC).
        public var at: Int64
    }

    public static let capacity = 20
    private let entries = NIOLockedValueBox<[Entry]>([])

    init() {}

    func add(_ entry: Entry) {
        self.entries.withLockedValue { entries in
            entries.insert(entry, at: 0)
            if entries.count > Self.capacity { entries.removeLast() }
        }
    }

    public var all: [Entry] { self.entries.withLockedValue { $0 } }
}
