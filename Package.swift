// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Burrow",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BurrowMux", targets: ["BurrowMux"]),
        .library(name: "BurrowTransport", targets: ["BurrowTransport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Wire format and multiplexer: yamux frames, stream state, flow control, the session
        // handler and its child channels. NIOCore only: it knows nothing of sockets or config.
        .target(
            name: "BurrowMux",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Pipeline handlers that move bytes between channels (GlueHandler) and, later, the
        // TCP/TLS/WebSocket transports.
        .target(
            name: "BurrowTransport",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Shared by the test targets: in-memory session pairs, loopback helpers, byte sinks.
        .target(
            name: "BurrowTestSupport",
            dependencies: [
                "BurrowMux",
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
    ],
    swiftLanguageModes: [.v6]
)
