import ArgumentParser
import Glibc
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
        let name = event.level.rawValue
        let level = name + String(repeating: " ", count: max(0, 7 - name.count))
        let line = "\(Self.timestamp()) \(level) \(self.label): \(event.message)\n"
        Output.error(line)
    }

    /// UTC with milliseconds, from the C library: no calendar machinery for one line of text.
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        gmtime_r(&now.tv_sec, &parts)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return digits(parts.tm_year + 1900, 4) + "-" + digits(parts.tm_mon + 1, 2) + "-" + digits(parts.tm_mday, 2)
            + "T" + digits(parts.tm_hour, 2) + ":" + digits(parts.tm_min, 2) + ":" + digits(parts.tm_sec, 2)
            + "." + digits(Int32(now.tv_nsec / 1_000_000), 3) + "Z"
    }

    /// Installs the handler process-wide and returns a logger labelled `label`.
    static func bootstrap(level: Logger.Level, label: String) -> Logger {
        LoggingSystem.bootstrap { LineLogHandler(label: $0, logLevel: level) }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
