// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Burrow",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "burrow", targets: ["burrow"]),
        .executable(name: "burrow-bench", targets: ["burrow-bench"]),
        .library(name: "BurrowMux", targets: ["BurrowMux"]),
        .library(name: "BurrowTransport", targets: ["BurrowTransport"]),
        // For FuzzTesting/, a package of its own.
        .library(name: "BurrowProtocol", targets: ["BurrowProtocol"]),
        .library(name: "BurrowConfig", targets: ["BurrowConfig"]),
        .library(name: "BurrowCore", targets: ["BurrowCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Wire format and multiplexer: yamux frames, stream state, flow control, the session
        // handler and its child channels. NIOCore only: it knows nothing of sockets or config.
        .target(
            name: "BurrowMux",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Every way bytes arrive and leave: listeners and dialers over tcp, tls, ws and wss that
        // hand back a byte-stream channel and who is at its far end, and the handlers that move
        // bytes between channels (GlueHandler, which aborts a mux stream with its reset event).
        // The only module that knows NIOSSL and NIOHTTP1.
        .target(
            name: "BurrowTransport",
            dependencies: [
                "BurrowMux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Burrow's own messages inside the mux: preamble, control messages, visitor headers,
        // login proofs. Values only.
        .target(
            name: "BurrowProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // server.toml and client.toml: its own TOML 1.0 reader (pure Swift, bounded, no
        // Foundation), then validation with every error's key path and line.
        // Names are checked with the protocol's rule (`Name`), so a config cannot name a client
        // or proxy the server would refuse.
        .target(
            name: "BurrowConfig",
            dependencies: ["BurrowProtocol"]
        ),
        // What the server and the client share, once: the handshake handlers on either side of
        // the preamble, the control channel, the session monitor, durations as NIO time, the
        // admin API's HTTP listener with its dashboard page, and the metrics (swift-metrics,
        // exported by swift-prometheus).
        .target(
            name: "BurrowCore",
            dependencies: [
                "BurrowMux",
                "BurrowTransport",
                "BurrowProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The server: sessions (control conversation, public ports), the registry, the login cap.
        .target(
            name: "BurrowServer",
            dependencies: [
                "BurrowCore",
                "BurrowMux",
                "BurrowTransport",
                "BurrowProtocol",
                "BurrowConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The client: the reconnect loop, its session, visitor streams and local service dialers.
        .target(
            name: "BurrowClient",
            dependencies: [
                "BurrowCore",
                "BurrowMux",
                "BurrowTransport",
                "BurrowProtocol",
                "BurrowConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The command line: wiring only.
        .executableTarget(
            name: "burrow",
            dependencies: [
                "CMemorySupport",
                "BurrowServer",
                "BurrowClient",
                "BurrowCore",
                "BurrowTransport",
                "BurrowConfig",
                "BurrowMux",
                "BurrowProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Load generators for bench/run.sh (latency, connection rate, held connections, one
        // stream's throughput), over TCP or as a WebSocket client (BurrowTransport's).
        .executableTarget(
            name: "burrow-bench",
            dependencies: [
                "BurrowTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // posix_spawn's "close every descriptor above stderr", a GNU extension Swift's Glibc
        // module leaves out: peer processes in tests must not inherit the test's sockets.
        .target(name: "CSpawnSupport"),
        // glibc's mallopt, mallinfo2 and malloc_trim (malloc.h is not in Swift's Glibc module),
        // for the command line's memory policy.
        .target(name: "CMemorySupport"),
        // Shared by the test targets: in-memory session pairs, loopback helpers, byte sinks,
        // peer processes.
        .target(
            name: "BurrowTestSupport",
            dependencies: [
                "BurrowMux",
                "CSpawnSupport",
                "BurrowTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "BurrowMuxTests",
            dependencies: [
                "BurrowMux",
                "BurrowTransport",
                "BurrowTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "BurrowInteropTests",
            dependencies: [
                "BurrowMux",
                "BurrowTransport",
                "BurrowTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["yamux-peer"]
        ),
        // The transports' handlers on EmbeddedChannel: WebSocket framing, the byte stream and
        // the glue between two channels.
        .testTarget(
            name: "BurrowTransportTests",
            dependencies: [
                "BurrowMux",
                "BurrowTransport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // The TOML reader against the toml-test corpus (a copy with its licence, under
        // toml-test/), and config validation with key paths and positions.
        .testTarget(
            name: "BurrowConfigTests",
            dependencies: ["BurrowConfig"],
            exclude: ["toml-test"]
        ),
        // Burrow's messages: preamble, framing, login proofs (with the vectors of docs/protocol.md).
        .testTarget(
            name: "BurrowProtocolTests",
            dependencies: [
                "BurrowProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // What server and client share, on EmbeddedChannel: the handshake handlers and the
        // datagram bridge.
        .testTarget(
            name: "BurrowCoreTests",
            dependencies: [
                "BurrowCore",
                "BurrowMux",
                "BurrowTransport",
                "BurrowProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // The server's handlers on EmbeddedChannel: a UDP port's flows.
        .testTarget(
            name: "BurrowServerTests",
            dependencies: [
                "BurrowServer",
                "BurrowCore",
                "BurrowConfig",
                "BurrowMux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // The client's pure values (backoff) and its visitor streams on EmbeddedChannel.
        .testTarget(
            name: "BurrowClientTests",
            dependencies: [
                "BurrowClient",
                "BurrowCore",
                "BurrowConfig",
                "BurrowMux",
                "BurrowProtocol",
                "BurrowTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // The memory policy's C half: which pages it gives back, and which it must not.
        .testTarget(
            name: "MemorySupportTests",
            dependencies: ["CMemorySupport"]
        ),
        // Server and client in this process on loopback: their events and state, no logs.
        .testTarget(
            name: "BurrowEndToEndTests",
            dependencies: [
                "BurrowCore",
                "BurrowTransport",
                "BurrowServer",
                "BurrowClient",
                "BurrowConfig",
                "BurrowTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // End to end: the real `burrow` binary, real peers (curl, python3), loopback sockets.
        .testTarget(
            name: "BurrowTunnelTests",
            dependencies: [
                "burrow",
                "BurrowConfig",
                "BurrowMux",
                "BurrowProtocol",
                "BurrowTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["Peers"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
