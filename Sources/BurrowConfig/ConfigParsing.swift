/// Shared steps of reading a config file: TOML syntax, then the typed walk, then one error
/// listing every problem found.
enum ConfigParsing {
    /// The document's syntax, or a config error naming its line and column.
    static func table(_ bytes: [UInt8], file: String?) throws(ConfigError) -> TOMLTable {
        do {
            return try TOMLParser.parse(bytes)
        } catch {
            throw ConfigError(file: file, problems: [.init(path: "", message: error.message, position: error.position)])
        }
    }

    /// The typed walk over a parsed document.
    static func read<Config>(_ table: TOMLTable, file: String?, read: (TableReader) -> Config?) throws(ConfigError) -> Config {
        let problems = ProblemList()
        let config = read(TableReader(table, path: "", problems: problems))
        guard problems.problems.isEmpty, let config else {
            throw ConfigError(file: file, problems: problems.problems)
        }
        return config
    }
}

/// A config file of either kind, for `burrow check`.
public enum AnyConfig: Sendable {
    case server(ServerConfig)
    case client(ClientConfig)

    public static func parse(_ text: String, file: String? = nil, environment: [String: String]) throws(ConfigError) -> AnyConfig {
        try Self.parse(bytes: Array(text.utf8), file: file, environment: environment)
    }

    /// Tells the kind by its keys: a client config names a `server`, a server config has
    /// `tokens` or `bind`.
    public static func parse(bytes: [UInt8], file: String? = nil, environment: [String: String]) throws(ConfigError) -> AnyConfig {
        let table = try ConfigParsing.table(bytes, file: file)
        if table["server"] != nil {
            return .client(try ConfigParsing.read(table, file: file) { ClientConfig.read($0, environment: environment) })
        }
        if table["tokens"] != nil || table["bind"] != nil {
            return .server(try ConfigParsing.read(table, file: file) { ServerConfig.read($0, environment: environment) })
        }
        throw ConfigError(file: file, problems: [
            .init(path: "", message: "neither a server config (no bind or [[tokens]]) nor a client config (no server = \"tcp://host:port\")")
        ])
    }
}
