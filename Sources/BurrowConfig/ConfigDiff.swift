/// What changed between two configs of the same kind, and when each change can take effect:
/// what hot reload applies, what `/adapt` shows, and what needs a restart. A pure value: it
/// compares, it changes nothing.
public struct ConfigDiff: Equatable, Sendable {
    /// Named entries that were added, removed or changed: tokens of a server config, proxies of
    /// a client config. Sorted by name.
    public struct Entries: Equatable, Sendable {
        public var added: [String] = []
        public var removed: [String] = []
        public var changed: [String] = []

        public init(added: [String] = [], removed: [String] = [], changed: [String] = []) {
            self.added = added
            self.removed = removed
            self.changed = changed
        }

        public var isEmpty: Bool { self.added.isEmpty && self.removed.isEmpty && self.changed.isEmpty }
    }

    /// When a changed setting takes effect.
    public enum Effect: String, Equatable, Sendable {
        /// At once, in the running process (read on each use).
        case now
        /// For sessions that start after the change (the client: its next session).
        case nextSession = "next session"
        /// Only when the process restarts (a listener's address or certificate).
        case restart
    }

    public struct Setting: Equatable, Sendable, CustomStringConvertible {
        /// The config key, as written in the file: `bind`, `reconnect.max_delay`.
        public var key: String
        public var effect: Effect

        public var description: String { "\(self.key) (\(self.effect.rawValue))" }
    }

    /// Tokens (server) or proxies (client).
    public var entries = Entries()
    /// Other settings that changed, in the order of the config reference.
    public var settings: [Setting] = []

    public var isEmpty: Bool { self.entries.isEmpty && self.settings.isEmpty }
    public var needsRestart: Bool { self.settings.contains { $0.effect == .restart } }

    /// A server config against its successor. A token changed when its secret or its ports did.
    public init(old: ServerConfig, new: ServerConfig) {
        self.entries = Self.entries(old.tokens, new.tokens, name: \.name)
        let checks: [Check<ServerConfig>] = [
            ("bind", .restart, { $0.bind == $1.bind }),
            ("tls", .restart, { $0.tls == $1.tls }),
            ("websocket", .restart, { $0.webSocket == $1.webSocket }),
            ("proxy_bind_address", .nextSession, { $0.proxyBindHost == $1.proxyBindHost }),
            ("handshake_timeout", .nextSession, { $0.handshakeTimeout == $1.handshakeTimeout }),
            ("heartbeat_interval", .nextSession, { $0.heartbeatInterval == $1.heartbeatInterval }),
            ("max_pending_logins", .now, { $0.maxPendingLogins == $1.maxPendingLogins }),
            ("max_pending_logins_per_address", .now, { $0.maxPendingLoginsPerAddress == $1.maxPendingLoginsPerAddress }),
            ("admin", .restart, { $0.admin == $1.admin }),
        ]
        self.compare(old, new, checks)
    }

    /// A client config against its successor. A proxy changed when its type, local service or
    /// public port did. What the session itself is made of (server, token, name, transport
    /// settings) takes effect with the next session, which a reload starts at once.
    public init(old: ClientConfig, new: ClientConfig) {
        self.entries = Self.entries(old.proxies, new.proxies, name: \.name)
        let checks: [Check<ClientConfig>] = [
            ("server", .nextSession, { $0.server == $1.server }),
            ("token", .nextSession, { $0.token == $1.token }),
            ("name", .nextSession, { $0.name == $1.name }),
            ("tls", .nextSession, { $0.tls == $1.tls }),
            ("websocket", .nextSession, { $0.webSocketHeaders == $1.webSocketHeaders }),
            ("heartbeat_interval", .nextSession, { $0.heartbeatInterval == $1.heartbeatInterval }),
            ("handshake_timeout", .nextSession, { $0.handshakeTimeout == $1.handshakeTimeout }),
            ("local_connect_timeout", .now, { $0.localConnectTimeout == $1.localConnectTimeout }),
            ("reconnect", .now, { $0.reconnect == $1.reconnect }),
            ("admin", .restart, { $0.admin == $1.admin }),
        ]
        self.compare(old, new, checks)
    }

    /// A setting's key, when it takes effect, and whether two configs agree on it.
    private typealias Check<Config> = (key: String, effect: Effect, same: (Config, Config) -> Bool)

    private mutating func compare<Config>(_ old: Config, _ new: Config, _ checks: [Check<Config>]) {
        for (key, effect, same) in checks where !same(old, new) {
            self.settings.append(Setting(key: key, effect: effect))
        }
    }

    private static func entries<Entry: Equatable>(_ old: [Entry], _ new: [Entry], name: (Entry) -> String) -> Entries {
        let before = Dictionary(old.map { (name($0), $0) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(new.map { (name($0), $0) }, uniquingKeysWith: { first, _ in first })
        var entries = Entries()
        entries.added = after.keys.filter { before[$0] == nil }.sorted()
        entries.removed = before.keys.filter { after[$0] == nil }.sorted()
        entries.changed = after.keys.filter { before[$0] != nil && before[$0] != after[$0] }.sorted()
        return entries
    }
}

/// What a reload did: the entries (tokens or proxies) it added, removed and changed, and the
/// settings it could not apply to the running process, with why. The admin API's answer to
/// `/reload` and `/adapt`.
public struct ReloadReport: Equatable, Sendable, Codable {
    public var added: [String] = []
    public var removed: [String] = []
    public var changed: [String] = []
    /// Settings applied to the running process, each as `key: what was done`.
    public var applied: [String] = []
    /// Settings that changed in the file but keep their running value, each as `key: why`.
    public var notApplied: [String] = []

    public init() {}

    /// The report of a reload that applies `diff`'s entries, and of its settings those that
    /// `apply` returns words for (what was done); `why` says what the others need.
    public init(
        entries diff: ConfigDiff, applying apply: (ConfigDiff.Setting) -> String? = { _ in nil }, settingsNeed why: (ConfigDiff.Setting) -> String
    ) {
        self.added = diff.entries.added
        self.removed = diff.entries.removed
        self.changed = diff.entries.changed
        for setting in diff.settings {
            if let done = apply(setting) {
                self.applied.append("\(setting.key): \(done)")
            } else {
                self.notApplied.append("\(setting.key): \(why(setting))")
            }
        }
    }

    public var isEmpty: Bool {
        self.added.isEmpty && self.removed.isEmpty && self.changed.isEmpty && self.applied.isEmpty && self.notApplied.isEmpty
    }

    /// One line for logs: "added web; removed ssh; not applied: bind (restart the server)".
    public var summary: String {
        var parts: [String] = []
        if !self.added.isEmpty { parts.append("added \(self.added.joined(separator: ", "))") }
        if !self.removed.isEmpty { parts.append("removed \(self.removed.joined(separator: ", "))") }
        if !self.changed.isEmpty { parts.append("changed \(self.changed.joined(separator: ", "))") }
        if !self.applied.isEmpty { parts.append("applied \(self.applied.joined(separator: "; "))") }
        if !self.notApplied.isEmpty { parts.append("not applied: \(self.notApplied.joined(separator: "; "))") }
        return parts.isEmpty ? "no changes" : parts.joined(separator: "; ")
    }
}
