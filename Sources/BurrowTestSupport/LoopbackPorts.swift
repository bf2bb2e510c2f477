import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Ports for tests on 127.0.0.1.
public enum LoopbackPorts {
    /// Every port handed out in this process: never handed out twice.
    private static let handedOut = NIOLockedValueBox(Set<Int>())

    /// Ports below the system's ephemeral range, which bind(0) and connect never take: a port
    /// handed out here cannot be taken in the meantime by one of the thousands of sockets the
    /// tests open and close (a free port from the OS's own choice could, and one did).
    static let candidates: Range<Int> = {
        let low = Self.ephemeralRangeStart() ?? 32_768
        return 10_000..<max(low, 10_001)
    }()

    /// `count` ports free for TCP and UDP alike on 127.0.0.1, and nobody else's in this
    /// process (for config files that must name a port before it is bound).
    public static func free(_ count: Int) async throws -> [Int] {
        var ports: [Int] = []
        var tries = 0
        while ports.count < count {
            tries += 1
            guard tries <= 10_000 else { throw IOError(errnoCode: EADDRINUSE, reason: "no free loopback port in \(Self.candidates)") }
            let port = Int.random(in: Self.candidates)
            // Reserved whether or not it is free now: one in use is not tried again.
            guard Self.handedOut.withLockedValue({ $0.insert(port).inserted }) else { continue }
            if await Self.isFree(port) { ports.append(port) }
        }
        return ports
    }

    /// Whether both a TCP listener and a UDP socket can bind 127.0.0.1:`port` (they are closed
    /// again before this returns).
    private static func isFree(_ port: Int) async -> Bool {
        let group = MultiThreadedEventLoopGroup.singleton
        guard let tcp = try? await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: port).get() else { return false }
        let udp = try? await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: port).get()
        try? await tcp.close()
        try? await udp?.close()
        return udp != nil
    }

    /// The first port of /proc/sys/net/ipv4/ip_local_port_range.
    private static func ephemeralRangeStart() -> Int? {
        guard let file = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 64)
        guard fgets(&line, Int32(line.count), file) != nil else { return nil }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
    }
}
