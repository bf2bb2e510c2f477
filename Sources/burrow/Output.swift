#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes to standard error or output with one `write(2)`: a whole line at once, so lines from
/// several threads never interleave, and without pulling in Foundation's FileHandle.
enum Output {
    static func error(_ text: String) {
        Self.write(text, to: 2)
    }

    static func out(_ text: String) {
        Self.write(text, to: 1)
    }

    private static func write(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
