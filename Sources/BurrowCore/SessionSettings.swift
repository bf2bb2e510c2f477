import BurrowMux
import NIOCore

extension MuxConfiguration {
    /// The mux of one Burrow session: the server accepts streams, the client dials them, and
    /// both ping every `heartbeat`.
    public static func session(role: StreamIDSpace.Role, heartbeat: Duration) -> MuxConfiguration {
        var configuration = MuxConfiguration(role: role)
        configuration.keepAliveInterval = TimeAmount(heartbeat)
        return configuration
    }
}

/// Durations in the words of a log line, and as the integers `Backoff` draws from.
extension Duration {
    public var attoseconds: Int128 {
        Int128(self.components.seconds) * 1_000_000_000_000_000_000 + Int128(self.components.attoseconds)
    }

    public init(attoseconds: Int128) {
        let (seconds, remainder) = attoseconds.quotientAndRemainder(dividingBy: 1_000_000_000_000_000_000)
        self.init(secondsComponent: Int64(seconds), attosecondsComponent: Int64(remainder))
    }

    /// For log lines: "1.3 s", "250 ms".
    public var shortDescription: String {
        let milliseconds = self.attoseconds / 1_000_000_000_000_000
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        let tenths = (milliseconds + 50) / 100
        return "\(tenths / 10).\(tenths % 10) s"
    }
}
