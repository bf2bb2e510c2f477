/// `[admin]`, in server.toml and client.toml alike: the HTTP API that reports on the running
/// process, reloads its config and stops it. Off unless configured.
public struct AdminSettings: Equatable, Sendable {
    /// Where the API listens: loopback, unless a token guards it.
    public var bind: Endpoint
    /// Asked for as `Authorization: Bearer <token>`; nil: none (allowed on loopback only, where
    /// every local user can reach it).
    public var token: Secret?

    public init(bind: Endpoint, token: Secret? = nil) {
        self.bind = bind
        self.token = token
    }

    /// Whether `host` can only be reached from this machine: 127.0.0.0/8, ::1, localhost.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Reads the `[admin]` table: `bind` (required), `token` or `token_env` (optional, but
    /// required for a bind that is not loopback).
    static func read(_ table: TableReader, environment: [String: String]) -> AdminSettings? {
        let bind = table.endpoint("bind", required: true)
        let hasToken = table.has("token") || table.has("token_env")
        let token = hasToken ? table.secret("token", environment: environment) : nil
        table.rejectUnknownKeys()
        guard let bind else { return nil }
        if !hasToken, !Self.isLoopback(bind.host) {
            table.report("bind", "\(bind) is not a loopback address: set token (or token_env) so that only its holders can reload or stop this process")
        }
        return AdminSettings(bind: bind, token: token)
    }
}
