import Dispatch
import Glibc

/// Runs `handler` once on the first SIGINT or SIGTERM (a graceful stop), and exits at once on
/// a second one.
enum Signals {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func onTermination(_ handler: @escaping @Sendable (String) -> Void) {
        var seen = false
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
            source.setEventHandler {
                if seen { Glibc.exit(130) }
                seen = true
                handler(name)
            }
            source.resume()
            Self.sources.append(source)
        }
    }

    /// Runs `handler` on every SIGUSR1 (`kill -USR1 PID`: print the live-object counts).
    static func onStatusRequest(_ handler: @escaping @Sendable () -> Void) {
        signal(SIGUSR1, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .main)
        source.setEventHandler(handler: handler)
        source.resume()
        Self.sources.append(source)
    }

    /// Runs `handler` on every SIGHUP (`kill -HUP PID`, systemd's ExecReload: reload the config).
    static func onReload(_ handler: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .main)
        source.setEventHandler(handler: handler)
        source.resume()
        Self.sources.append(source)
    }
}
