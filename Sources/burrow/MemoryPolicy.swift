import CMemorySupport
import Dispatch

/// How a long-running burrow process uses glibc's allocator, set once at start.
///
/// Reads land in receive buffers of up to 256 KiB. With glibc's defaults each one above its
/// 128 KiB mmap threshold is an mmap and a munmap, and a heap whose top is given back past the
/// trim threshold is faulted in again by the next read: on a busy bridge that is an eighth of
/// the CPU in page faults. So buffers up to 4 MiB come from the heap, and the heap keeps what
/// it freed while traffic flows. What it keeps is given back when it is worth it: every
/// second in which the process was quiet (under 5% of a core), when more than `returnAbove`
/// bytes lie free, `malloc_trim` returns them (and the free pages inside the heap, which
/// trimming the top alone never does), so a burst of visitors does not leave the process at
/// its peak.
///
/// Pages of code are given back too. Start-up touches far more of the binary than a running
/// tunnel uses (argument and config parsing, TLS set-up, the Swift runtime's first conformance
/// lookups), a burst of visitors runs paths an idle tunnel does not, and the kernel maps up to
/// 16 pages around each page touched: a server or client that runs well under a megabyte of its
/// code while idle had 15 MiB of its binary resident, counted in its RSS and shielded from
/// reclaim for as long as it ran. So at each look, when more than `codeAbove` bytes of file
/// pages are mapped above the fewest seen after a release (at the first look: all of
/// start-up's), the clean pages of the binary and its libraries are unmapped, and the pages of
/// the binary's constants (`.rodata`, which the linker puts in the writable segment, so only the
/// pages never written: all of them, since nothing writes a constant). They stay in the
/// page cache, where the kernel may reclaim them first. A page needed again costs a minor
/// fault; as nothing is given back in a busy second, traffic that resumes faults its hot paths
/// back once: a few hundred, well under a millisecond of CPU.
enum MemoryPolicy {
    static let mmapThreshold = 4 << 20
    static let trimThreshold = 128 << 20
    /// Every second, give or take a tenth: each heartbeat (10 s) maps a few MiB of code that the
    /// next look gives back, and at two seconds (with a second's leeway) a sampled RSS landed on
    /// it often enough to move the bench's median of five.
    static let returnEvery = DispatchTimeInterval.seconds(1)
    static let returnAbove = 512 << 10
    static let codeAbove = 512 << 10

    nonisolated(unsafe) private static var timer: DispatchSourceTimer?
    /// The fewest resident file-backed bytes seen just after code was given back (0 before the
    /// first look): the floor what is mapped is measured against. The lowest, not the last, since
    /// a release can be followed at once by faults (a visitor arriving) that are not start-up's
    /// or a burst's leftovers. Read and written by the timer's handler only, one call at a time.
    nonisolated(unsafe) private static var codeFloor = 0
    /// The process's CPU time at the last look, or when the timer started (set by `apply`, then
    /// by the timer's handler only, as `codeFloor`).
    nonisolated(unsafe) private static var lastCPU: UInt64 = 0
    /// CPU time since the last look above which the process is busy: 5% of a core. An idle
    /// tunnel's heartbeat and the look itself take well under a millisecond.
    static let busyAbove: UInt64 = 50_000_000

    /// Sets the thresholds and starts giving free memory back. Call once, first thing.
    static func apply() {
        guard burrow_malloc_set_thresholds(Self.mmapThreshold, Self.trimThreshold) == 1 else { return }
        // Set here, not as the static's initial value: Swift initializes statics on first use, so
        // the first look would read it after its own clock and take the wrapped difference for a
        // busy second.
        Self.lastCPU = burrow_process_cpu_nanoseconds()
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + Self.returnEvery, repeating: Self.returnEvery, leeway: .milliseconds(100))
        timer.setEventHandler(handler: Self.returnMemory)
        timer.resume()
        Self.timer = timer
    }

    private static func returnMemory() {
        // Memory is given back when the process is quiet. A busy one is using what it holds,
        // would fault it straight back, and its event loops would wait on the allocator's locks
        // and the address space's while the look walks them. By hand, one stream through a
        // release pair: looking every second regardless averaged 11.7 and 12.0 Gbit/s in two
        // series where looking every two seconds did 12.7 and 13.2, and skipping busy looks
        // 12.9 (the server's page faults under load: 180 a second, 120, 45).
        let cpu = burrow_process_cpu_nanoseconds()
        defer { Self.lastCPU = cpu }
        guard cpu &- Self.lastCPU < Self.busyAbove else { return }
        if burrow_malloc_free_bytes() > Self.returnAbove { _ = burrow_malloc_trim() }
        if Self.codeFloor == 0 || burrow_resident_file_bytes() > Self.codeFloor + Self.codeAbove {
            _ = burrow_release_clean_file_pages()
            let kept = max(burrow_resident_file_bytes(), 1)
            Self.codeFloor = Self.codeFloor == 0 ? kept : min(Self.codeFloor, kept)
        }
    }
}
