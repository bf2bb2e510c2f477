import BurrowConfig

/// What `parse` says is wrong with `text` (a client or a server config), one line per problem
/// as `burrow check` prints them; empty when the file is fine.
func configProblems(_ text: String, client: Bool, environment: [String: String] = [:]) -> [String] {
    do {
        if client {
            _ = try ClientConfig.parse(text, environment: environment)
        } else {
            _ = try ServerConfig.parse(text, environment: environment)
        }
        return []
    } catch {
        return error.problems.map(\.description)
    }
}
