import ArgumentParser
import BurrowConfig
import FoundationEssentials
import Glibc
import Logging

/// Options every long-running command shares.
struct RunOptions: ParsableArguments {
    @Option(name: .long, help: "Least severe log level shown: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info
}

/// Reads a config file, turning every failure into a message that names the file.
enum ConfigFile {
    /// Reads and validates `path` with `parse`; on a config error prints every problem and
    /// exits 1.
    static func load<Config>(_ path: String, _ parse: (String, String?, [String: String]) throws -> Config) throws -> Config {
        do {
            return try parse(try Self.text(path), path, ProcessInfo.processInfo.environment)
        } catch let error as ConfigError {
            Self.report(error)
        }
    }

    static func text(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(path): \(error)")
        }
    }

    /// Prints a config error the way users read it: file, count, one problem per line.
    static func report(_ error: Error) -> Never {
        Output.error("\(error)\n")
        Glibc.exit(1)
    }
}
