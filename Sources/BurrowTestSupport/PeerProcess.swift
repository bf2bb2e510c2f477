import Foundation
import NIOConcurrencyHelpers

/// A real peer program run by a test: its stdout is collected line by line, and tests wait for
/// lines or for its exit, never for time.
public final class PeerProcess: Sendable {
    struct Waiter {
        struct Match {
            let text: String
            let anywhere: Bool
            func matches(_ line: String) -> Bool { self.anywhere ? line.contains(self.text) : line.hasPrefix(self.text) }
        }
        let id: UUID
        let match: Match
        let continuation: CheckedContinuation<String, Error>
        var text: String { self.match.text }
        func matches(_ line: String) -> Bool { self.match.matches(line) }
    }

    private let process: Process
    private let pipe: Pipe
    /// The process's standard input, when the test talks to it.
    private let input: Pipe?
    private let state = NIOLockedValueBox(State())

    private struct State {
        var lines: [String] = []
        var partial = Data()
        var waiters: [Waiter] = []
        var exited = false
        var endWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Starts `executable` with `arguments`; `environment` entries are added to the test's own.
    /// With `mergeStandardError`, what it writes to stderr (logs) is collected too; with
    /// `input`, the test writes its standard input with `send(_:)`.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], mergeStandardError: Bool = false,
        input: Bool = false
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        if mergeStandardError { process.standardError = pipe }
        self.input = input ? Pipe() : nil
        if let stdin = self.input { process.standardInput = stdin }
        self.process = process
        self.pipe = pipe
        try process.run()
        // A thread of its own blocks on the pipe until EOF (readabilityHandler has been seen to
        // crash libdispatch when many short-lived processes come and go).
        let state = self.state
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                state.withLockedValue { state in
                    state.partial.append(data)
                    while let newline = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: state.partial[state.partial.startIndex..<newline], as: UTF8.self)
                        state.partial.removeSubrange(state.partial.startIndex...newline)
                        state.lines.append(line)
                        state.waiters.removeAll { waiter in
                            guard waiter.matches(line) else { return false }
                            waiter.continuation.resume(returning: line)
                            return true
                        }
                    }
                }
            }
            state.withLockedValue { state in
                state.exited = true
                for waiter in state.endWaiters { waiter.resume() }
                state.endWaiters.removeAll()
                for waiter in state.waiters {
                    waiter.continuation.resume(throwing: Failure(description: "peer exited before printing '\(waiter.text)'; it printed:\n" + state.lines.joined(separator: "\n")))
                }
                state.waiters.removeAll()
            }
        }
    }

    /// Every line printed so far.
    public var lines: [String] { self.state.withLockedValue { $0.lines } }

    /// Waits for the first line starting with `prefix` (printed already or later).
    public func line(startingWith prefix: String) async throws -> String {
        try await self.line(Waiter.Match(text: prefix, anywhere: false), after: 0)
    }

    /// Waits for the first line, from the `after`-th on, that contains `text`.
    public func line(containing text: String, after: Int = 0) async throws -> String {
        try await self.line(Waiter.Match(text: text, anywhere: true), after: after)
    }

    /// How many lines were printed so far (to wait only for later ones).
    public var lineCount: Int { self.state.withLockedValue { $0.lines.count } }

    private func line(_ match: Waiter.Match, after: Int, timeout: Double = 30) async throws -> String {
        let id = UUID()
        let state = self.state
        return try await withCheckedThrowingContinuation { continuation in
            state.withLockedValue { state in
                if let line = state.lines.dropFirst(after).first(where: match.matches) {
                    continuation.resume(returning: line)
                } else if state.exited {
                    continuation.resume(throwing: Failure(description: "peer exited without printing '\(match.text)'; it printed:\n" + state.lines.joined(separator: "\n")))
                } else {
                    state.waiters.append(Waiter(id: id, match: match, continuation: continuation))
                }
            }
            // A guard against a test hanging forever, not a synchronisation: it fires only when
            // the line never comes.
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                state.withLockedValue { state in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return }
                    let waiter = state.waiters.remove(at: index)
                    waiter.continuation.resume(throwing: Failure(description: "no line with '\(match.text)' within \(Int(timeout)) s; the process printed:\n" + state.lines.joined(separator: "\n")))
                }
            }
        }
    }

    /// Writes `text` (and a newline) to the process's standard input.
    public func send(_ text: String, newline: Bool = true) throws {
        guard let input = self.input else { throw Failure(description: "the process was started without input") }
        try input.fileHandleForWriting.write(contentsOf: Data((newline ? text + "\n" : text).utf8))
    }

    /// The process's id, for signals.
    public var pid: Int32 { self.process.processIdentifier }

    /// Sends `signal` to the process this object started.
    public func signal(_ signal: Int32) {
        if self.process.isRunning { kill(self.process.processIdentifier, signal) }
    }

    /// Waits for the process to end (and for all it printed to be read) and returns its exit
    /// status.
    public func exitStatus() async -> Int32 {
        let process = self.process
        let status = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.state.withLockedValue { state in
                if state.exited { continuation.resume() } else { state.endWaiters.append(continuation) }
            }
        }
        return status
    }

    /// Ends the process if it still runs (the one this object started, by its PID). SIGKILL:
    /// a test's helper must not outlive it, and a process started from a test runner may have
    /// inherited an ignored SIGTERM. Tests of graceful stops send SIGTERM with `signal(_:)`.
    public func terminate() {
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
    }

    deinit {
        self.terminate()
    }
}
