import CSpawnSupport
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

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

    private let child: pid_t
    /// The write end of the process's standard input, when the test talks to it.
    private let input: Int32?
    private let state = NIOLockedValueBox(State())

    private struct State {
        var lines: [String] = []
        var partial: [UInt8] = []
        var waiters: [Waiter] = []
        /// The output pipe reached its end.
        var outputEnded = false
        var endWaiters: [CheckedContinuation<Void, Never>] = []
        /// Set once the process has exited, before it is reaped (so no signal can reach a
        /// reused process ID).
        var exitStatus: Int32?
        var exitWaiters: [CheckedContinuation<Int32, Never>] = []
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Starts `executable` with `arguments`; `environment` entries are added to the test's own.
    /// With `mergeStandardError`, what it writes to stderr (logs) is collected too; with
    /// `input`, the test writes its standard input with `send(_:)` (otherwise it reads
    /// /dev/null).
    ///
    /// The process is spawned here (posix_spawn) and reaped by a thread of this object, not by
    /// Foundation's `Process`: that one learns of a child's exit from a socket the child
    /// inherits, so a child that closes its inherited descriptors at startup (dnsmasq does)
    /// left its reaper blocked in `waitpid` and no other child was ever reaped. The child gets
    /// its standard descriptors and nothing else, so peers never hold each other's pipes or
    /// the test's sockets open.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], mergeStandardError: Bool = false,
        input: Bool = false
    ) throws {
        let output = try Self.pipe()
        let stdin = input ? try Self.pipe() : nil
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        if mergeStandardError { posix_spawn_file_actions_adddup2(&actions, output.write, 2) }
        // Nothing else crosses into the child: NIO's sockets are not close-on-exec, and a peer
        // that inherits one holds it open (seen: a python3 peer kept a just-probed port bound,
        // and iperf3 could not listen there), as one holding another's pipe delays its EOF.
        guard burrow_spawn_close_from(&actions, 3) == 0 else { throw Failure(description: "posix_spawn_file_actions_addclosefrom_np failed") }

        // Its own process group (a terminal's ^C is for the test runner), default signal
        // dispositions and an empty mask (a runner may ignore or block SIGTERM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        var pid = pid_t()
        let spawned = Self.withCStrings([executable] + arguments) { argv in
            Self.withCStrings(variables) { envp in
                posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            }
        }
        close(output.write)
        if let stdin { close(stdin.read) }
        guard spawned == 0 else {
            close(output.read)
            if let stdin { close(stdin.write) }
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        self.child = pid
        self.input = stdin?.write
        Self.collectLines(from: output.read, into: self.state)
        Self.reap(pid, into: self.state)
    }

    private static func pipe() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        guard Glibc.pipe(&ends) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        return (ends[0], ends[1])
    }

    private static func withCStrings<Result>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Result) -> Result {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }

    /// A thread of its own blocks on the pipe until EOF (readabilityHandler has been seen to
    /// crash libdispatch when many short-lived processes come and go).
    private static func collectLines(from fd: Int32, into state: NIOLockedValueBox<State>) {
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                state.withLockedValue { state in
                    state.partial.append(contentsOf: chunk[..<count])
                    while let newline = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: state.partial[..<newline], as: UTF8.self)
                        state.partial.removeSubrange(...newline)
                        state.lines.append(line)
                        state.waiters.removeAll { waiter in
                            guard waiter.matches(line) else { return false }
                            waiter.continuation.resume(returning: line)
                            return true
                        }
                    }
                }
            }
            close(fd)
            state.withLockedValue { state in
                state.outputEnded = true
                for waiter in state.endWaiters { waiter.resume() }
                state.endWaiters.removeAll()
                for waiter in state.waiters {
                    waiter.continuation.resume(throwing: Failure(description: "peer exited before printing '\(waiter.text)'; it printed:\n" + state.lines.joined(separator: "\n")))
                }
                state.waiters.removeAll()
            }
        }
    }

    /// Waits on a thread of its own for the process to exit, records the status, then reaps
    /// it; the status is set under the lock `signal(_:)` takes, so a signal never goes to a
    /// process ID the system has handed out again.
    private static func reap(_ pid: pid_t, into state: NIOLockedValueBox<State>) {
        Thread.detachNewThread {
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            state.withLockedValue { state in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                // An exit code, or the number of the signal that ended it.
                let code = status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
                state.exitStatus = code
                for waiter in state.exitWaiters { waiter.resume(returning: code) }
                state.exitWaiters.removeAll()
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
                } else if state.outputEnded {
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
        var bytes = Array((newline ? text + "\n" : text).utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot write to the process: \(String(cString: strerror(errno)))")
            }
            bytes = bytes.dropFirst(written)
        }
    }

    /// The process's id, for signals.
    public var pid: Int32 { self.child }

    /// Sends `signal` to the process this object started, unless it has exited.
    public func signal(_ signal: Int32) {
        self.state.withLockedValue { state in
            if state.exitStatus == nil { kill(self.child, signal) }
        }
    }

    /// Waits for the process to end (and for all it printed to be read) and returns its exit
    /// status (or the number of the signal that ended it).
    public func exitStatus() async -> Int32 {
        let status = await withCheckedContinuation { continuation in
            self.state.withLockedValue { state in
                if let status = state.exitStatus { continuation.resume(returning: status) } else { state.exitWaiters.append(continuation) }
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.state.withLockedValue { state in
                if state.outputEnded { continuation.resume() } else { state.endWaiters.append(continuation) }
            }
        }
        return status
    }

    /// Ends the process if it still runs (the one this object started, by its PID). SIGKILL:
    /// a test's helper must not outlive it. Tests of graceful stops send SIGTERM with
    /// `signal(_:)`.
    public func terminate() {
        self.signal(SIGKILL)
    }

    deinit {
        self.terminate()
        if let input = self.input { close(input) }
    }
}
