import ArgumentParser
import BurrowConfig
import Foundation
import Logging

/// Options every long-running command shares.
struct RunOptions: ParsableArguments {
    @Option(name: .long, help: "Least severe log level shown: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info
}

/// Reads a config file, turning every failure into a message that names the file.
enum ConfigFile {
    static func text(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(path): \((error as NSError).localizedDescription)")
        }
    }

    /// Prints a config error the way users read it: file, count, one problem per line.
    static func report(_ error: Error) -> Never {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        Foundation.exit(1)
    }
}
