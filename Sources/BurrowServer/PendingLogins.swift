import BurrowTransport
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Bounds what peers that have not logged in can hold, as sshd's MaxStartups does: a
/// connection counts from its accept until its login succeeds or it closes, and one beyond the
/// total cap, or beyond the cap for its source address, is closed at once. Without a token
/// nobody can then hold more than `total` connections' worth of the server's memory.
final class PendingLogins: Sendable {
    let total: Int
    let perAddress: Int
    private let logger: Logger
    private let metrics: ServerMetrics
    private let state = NIOLockedValueBox(State())

    private struct State {
        var count = 0
        var byAddress: [String: Int] = [:]
        /// Refusals not yet logged, and when the last line was written: under a flood the log
        /// gets one line per interval, not one per connection.
        var unlogged = 0
        var lastLogged: NIODeadline?
    }

    /// How often at most a refusal is logged; the refusals in between are counted in it.
    static let logInterval = TimeAmount.seconds(10)

    init(total: Int, perAddress: Int, logger: Logger, metrics: ServerMetrics) {
        self.total = total
        self.perAddress = perAddress
        self.logger = logger
        self.metrics = metrics
    }

    /// One connection's place among the pending logins; `release()` gives it back (once).
    final class Ticket: Sendable {
        private let owner: PendingLogins
        private let address: String
        private let released = Atomic(false)

        fileprivate init(owner: PendingLogins, address: String) {
            self.owner = owner
            self.address = address
        }

        func release() {
            guard !self.released.exchange(true, ordering: .relaxed) else { return }
            self.owner.give(back: self.address)
        }
    }

    /// A place for a new connection from `address`, or nil (and a log line, at most one per
    /// interval) when a cap is reached. The place is given back when `channel` closes, if the
    /// login has not given it back before.
    func admit(_ channel: Channel, listener: String) -> Ticket? {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let decision = self.state.withLockedValue { state -> Decision in
            let fromAddress = state.byAddress[address, default: 0]
            let reason: String
            if state.count >= self.total {
                reason = "\(state.count) connections have not logged in yet (max_pending_logins = \(self.total))"
            } else if fromAddress >= self.perAddress {
                reason = "\(fromAddress) connections from \(address) have not logged in yet (max_pending_logins_per_address = \(self.perAddress))"
            } else {
                state.count += 1
                state.byAddress[address] = fromAddress + 1
                return .admitted
            }
            let now = NIODeadline.now()
            if let last = state.lastLogged, now - last < Self.logInterval {
                state.unlogged += 1
                return .refusedQuietly
            }
            defer { state.unlogged = 0 }
            state.lastLogged = now
            return .refused(reason: reason, sinceLastLine: state.unlogged)
        }
        switch decision {
        case .admitted:
            self.metrics.unauthenticated.increment()
            let ticket = Ticket(owner: self, address: address)
            channel.closeFuture.whenComplete { _ in ticket.release() }
            return ticket
        case .refusedQuietly:
            self.metrics.unauthenticatedRefused.increment()
            return nil
        case .refused(let reason, let sinceLastLine):
            self.metrics.unauthenticatedRefused.increment()
            let more = sinceLastLine > 0 ? " (and \(sinceLastLine) more refused since the last such line)" : ""
            let peer = PeerAddress(channel)
            self.logger.warning("\(listener): connection from \(peer) refused: \(reason)\(more)")
            return nil
        }
    }

    private enum Decision {
        case admitted
        case refusedQuietly
        case refused(reason: String, sinceLastLine: Int)
    }

    private func give(back address: String) {
        self.metrics.unauthenticated.decrement()
        self.state.withLockedValue { state in
            state.count -= 1
            let left = state.byAddress[address, default: 1] - 1
            state.byAddress[address] = left > 0 ? left : nil
        }
    }
}
