import Foundation
import NIOConcurrencyHelpers

/// A real peer program run by a test: its stdout is collected line by line, and tests wait for
/// lines or for its exit, never for time.
public final class PeerProcess: Sendable {
    private let process: Process
    private let state = NIOLockedValueBox(State())

    private struct State {
        var lines: [String] = []
        var partial = Data()
        var waiters: [(prefix: String, continuation: CheckedContinuation<String, Error>)] = []
        var exited = false
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Starts `executable` with `arguments`; `environment` entries are added to the test's own.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        self.process = process
        let state = self.state
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            state.withLockedValue { state in
                if data.isEmpty {
                    state.exited = true
                    for waiter in state.waiters {
                        waiter.continuation.resume(throwing: Failure(description: "peer exited before printing '\(waiter.prefix)'; it printed:\n" + state.lines.joined(separator: "\n")))
                    }
                    state.waiters.removeAll()
                    handle.readabilityHandler = nil
                    return
                }
                state.partial.append(data)
                while let newline = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: state.partial[state.partial.startIndex..<newline], as: UTF8.self)
                    state.partial.removeSubrange(state.partial.startIndex...newline)
                    state.lines.append(line)
                    state.waiters.removeAll { waiter in
                        guard line.hasPrefix(waiter.prefix) else { return false }
                        waiter.continuation.resume(returning: line)
                        return true
                    }
                }
            }
        }
        try process.run()
    }

    /// Every line printed so far.
    public var lines: [String] { self.state.withLockedValue { $0.lines } }

    /// Waits for the first line starting with `prefix` (printed already or later).
    public func line(startingWith prefix: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            self.state.withLockedValue { state in
                if let line = state.lines.first(where: { $0.hasPrefix(prefix) }) {
                    continuation.resume(returning: line)
                } else if state.exited {
                    continuation.resume(throwing: Failure(description: "peer exited without printing '\(prefix)'; it printed:\n" + state.lines.joined(separator: "\n")))
                } else {
                    state.waiters.append((prefix, continuation))
                }
            }
        }
    }

    /// Waits for the process to end and returns its exit status.
    public func exitStatus() async -> Int32 {
        let process = self.process
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            }
        }
    }

    /// Ends the process if it still runs (the one this object started, by its PID).
    public func terminate() {
        if self.process.isRunning { self.process.terminate() }
    }

    deinit {
        self.terminate()
    }
}
