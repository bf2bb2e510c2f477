import ArgumentParser
import FoundationEssentials
import Logging

/// One line per event on standard error: `2026-11-21T20:00:00.123Z info  server: message`.
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
        let line = "\(Self.timestamp()) \(level) \(self.label): \(event.message)\n"
        Output.error(line)
    }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// Installs the handler process-wide and returns a logger labelled `label`.
    static func bootstrap(level: Logger.Level, label: String) -> Logger {
        LoggingSystem.bootstrap { LineLogHandler(label: $0, logLevel: level) }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
