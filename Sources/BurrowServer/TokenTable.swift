import BurrowConfig
import NIOConcurrencyHelpers

/// The server's tokens as they are now: read at every login, swapped whole when the operator
/// changes them (hot reload), so a new rule applies to the next login without a restart.
final class TokenTable: Sendable {
    private let rules: NIOLockedValueBox<[ServerConfig.TokenRule]>

    init(_ rules: [ServerConfig.TokenRule]) {
        self.rules = NIOLockedValueBox(rules)
    }

    var all: [ServerConfig.TokenRule] {
        self.rules.withLockedValue { $0 }
    }

    /// The rule a login's token hint points at.
    func rule(where matches: (ServerConfig.TokenRule) -> Bool) -> ServerConfig.TokenRule? {
        self.rules.withLockedValue { $0.first(where: matches) }
    }

    func replace(with rules: [ServerConfig.TokenRule]) {
        self.rules.withLockedValue { $0 = rules }
    }
}
