import CMallocSupport
import Dispatch

/// How a long-running burrow process uses glibc's allocator, set once at start.
///
/// Reads land in receive buffers of up to 256 KiB. With glibc's defaults each one above its
/// 128 KiB mmap threshold is an mmap and a munmap, and a heap whose top is given back past the
/// trim threshold is faulted in again by the next read: on a busy bridge that is an eighth of
/// the CPU in page faults. So buffers up to 4 MiB come from the heap, and the heap keeps what
/// it freed while traffic flows. What it keeps is given back when it is worth it: every few
/// seconds, when more than `returnAbove` bytes lie free, `malloc_trim` returns them (and the
/// free pages inside the heap, which trimming the top alone never does), so a burst of
/// visitors does not leave the process at its peak.
enum MemoryPolicy {
    static let mmapThreshold = 4 << 20
    static let trimThreshold = 128 << 20
    static let returnEvery = DispatchTimeInterval.seconds(5)
    static let returnAbove = 2 << 20

    nonisolated(unsafe) private static var timer: DispatchSourceTimer?

    /// Sets the thresholds and starts giving free memory back. Call once, first thing.
    static func apply() {
        guard burrow_malloc_set_thresholds(Self.mmapThreshold, Self.trimThreshold) == 1 else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + Self.returnEvery, repeating: Self.returnEvery, leeway: .seconds(1))
        timer.setEventHandler {
            if burrow_malloc_free_bytes() > Self.returnAbove { _ = burrow_malloc_trim() }
        }
        timer.resume()
        Self.timer = timer
    }
}
