import TOMLKit

/// Shared steps of reading a config file: TOML syntax, then the typed walk, then one error
/// listing every problem found.
enum ConfigParsing {
    static func parse<Config>(_ text: String, file: String?, read: (TableReader) -> Config?) throws -> Config {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let position = "line \(error.source.begin.line), column \(error.source.begin.column)"
            throw ConfigError(file: file, problems: [.init(path: "", message: "TOML syntax error at \(position): \(error.description)")])
        }
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

    /// Tells the kind by its keys: a client config names a `server`, a server config has
    /// `tokens` or `bind`.
    public static func parse(_ text: String, file: String? = nil, environment: [String: String]) throws -> AnyConfig {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            // Let the common path produce the syntax error with its position.
            return .server(try ServerConfig.parse(text, file: file, environment: environment))
        }
        if table["server"] != nil {
            return .client(try ClientConfig.parse(text, file: file, environment: environment))
        }
        if table["tokens"] != nil || table["bind"] != nil {
            return .server(try ServerConfig.parse(text, file: file, environment: environment))
        }
        throw ConfigError(file: file, problems: [
            .init(path: "", message: "neither a server config (no bind or [[tokens]]) nor a client config (no server = \"tcp://host:port\")")
        ])
    }
}
