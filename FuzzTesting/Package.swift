// swift-tools-version:6.1
// Fuzz targets for Burrow's decoders, built with libFuzzer and AddressSanitizer. A package of its
// own, so the main build and CI never compile it: see README.md here.
import PackageDescription

let package = Package(
    name: "BurrowFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Burrow", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver (the library itself comes with -sanitize=fuzzer).
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "burrow-fuzz",
            dependencies: [
                "CLibFuzzer",
                .product(name: "BurrowMux", package: "Burrow"),
                .product(name: "BurrowTransport", package: "Burrow"),
                .product(name: "BurrowProtocol", package: "Burrow"),
                .product(name: "BurrowConfig", package: "Burrow"),
                .product(name: "BurrowCore", package: "Burrow"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    // Swift 5 mode: a fuzz harness is single-threaded, and libFuzzer's C callback reads a global.
    swiftLanguageModes: [.v5]
)
