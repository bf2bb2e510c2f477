import CLibFuzzer

#if canImport(Glibc)
import Glibc
#endif

/// `burrow-fuzz TARGET [libFuzzer flags] [CORPUS...]` fuzzes one decoder;
/// `burrow-fuzz TARGET --write-seeds DIR` writes its seed inputs (valid messages) to DIR.
///
/// SwiftPM links an executable with `--defsym main=<module>_main`, so this is that symbol: it
/// picks the target, then hands control to libFuzzer's driver.
@_cdecl("burrow_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let arguments = (0..<Int(argc)).map { String(cString: argv[$0]!) }
    guard arguments.count >= 2, let target = FuzzTargets.all.first(where: { $0.name == arguments[1] }) else {
        let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
        fputs("usage: burrow-fuzz TARGET [libFuzzer flags] [CORPUS...]\n       burrow-fuzz TARGET --write-seeds DIR\ntargets: \(names)\n", stderr)
        return 2
    }
    if arguments.count == 4, arguments[2] == "--write-seeds" {
        return writeSeeds(target, to: arguments[3])
    }
    selectedTarget = target
    // libFuzzer sees the program name and its own flags, not the target's name.
    var driverArguments: [UnsafeMutablePointer<CChar>?] = [argv[0]] + (2..<Int(argc)).map { argv[$0] } + [nil]
    var count = argc - 1
    return driverArguments.withUnsafeMutableBufferPointer { buffer in
        var pointer = buffer.baseAddress
        return LLVMFuzzerRunDriver(&count, &pointer) { data, size in
            selectedTarget!.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        }
    }
}

/// Set once, before libFuzzer starts calling back (a C callback captures nothing).
nonisolated(unsafe) private var selectedTarget: FuzzTarget?

private func writeSeeds(_ target: FuzzTarget, to directory: String) -> Int32 {
    mkdir(directory, 0o755)
    for (index, seed) in target.seeds().enumerated() {
        let path = "\(directory)/seed-\(index)"
        guard let file = fopen(path, "wb") else {
            fputs("cannot write \(path)\n", stderr)
            return 1
        }
        _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    return 0
}

/// libFuzzer's library refers to this symbol; inputs come through the driver's callback, which
/// does the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selectedTarget?.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
