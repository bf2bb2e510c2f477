import NIOCore
import NIOPosix

/// Ports for tests on 127.0.0.1.
public enum LoopbackPorts {
    /// `count` TCP ports the OS just handed out and took back: free now, and nobody else's
    /// (for config files that must name a port before the server binds it).
    public static func free(_ count: Int) async throws -> [Int] {
        var channels: [Channel] = []
        for _ in 0..<count {
            channels.append(try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get())
        }
        let ports = channels.map { $0.localAddress!.port! }
        for channel in channels { try await channel.close() }
        return ports
    }
}
