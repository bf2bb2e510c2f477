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
    static func load<Config>(_ path: String, _ parse: ([UInt8], String?, [String: String]) throws(ConfigError) -> Config) throws -> Config {
        let bytes = try Self.bytes(path)
        do {
            return try parse(bytes, path, ProcessInfo.processInfo.environment)
        } catch {
            Self.report(error)
        }
    }

    /// The file's bytes, refusing one larger than a config can be before reading it all.
    static func bytes(_ path: String) throws -> [UInt8] {
        let limit = TOMLParser.Limits().maximumBytes
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ConfigFileError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count <= limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                throw ConfigFileError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            bytes += chunk[..<count]
        }
        throw ConfigFileError("\(path) is larger than \(limit >> 20) MiB: too large for a config file")
    }

    /// Prints a config error the way users read it: `file:line:column: problem`, one per line.
    static func report(_ error: Error) -> Never {
        Output.error("\(error)\n")
        Glibc.exit(1)
    }
}

/// A config file that cannot be read: the message alone, exit status 1 (not a usage error).
struct ConfigFileError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
