import CMemorySupport
import Glibc
import XCTest

/// `burrow_release_clean_file_pages` unmaps pages that can be read again from their file
/// unchanged, and nothing else: a private mapping whose pages were written (as the dynamic
/// loader writes the relocated RELRO segment before making it read-only) keeps what was written.
final class CleanPagesTests: XCTestCase {
    private var file: URLPath!

    override func setUpWithError() throws {
        self.file = try URLPath.temporary(bytes: 4 * 4096, fill: 0x61)
    }

    override func tearDown() {
        unlink(self.file.path)
    }

    func testAReadOnlyMappingLosesItsResidentPagesButNotItsBytes() throws {
        let mapping = try Mapping(file: self.file, writable: false)
        defer { mapping.unmap() }
        XCTAssertEqual(mapping.byte(at: 4096), 0x61)
        XCTAssertTrue(mapping.isResident(page: 1))
        XCTAssertGreaterThan(burrow_release_clean_file_pages(), 0)
        XCTAssertFalse(mapping.isResident(page: 1), "a clean read-only page stays mapped")
        XCTAssertEqual(mapping.byte(at: 4096), 0x61, "read again from the file")
    }

    func testAMappingWrittenBeforeItWasMadeReadOnlyKeepsWhatWasWritten() throws {
        let mapping = try Mapping(file: self.file, writable: true)
        defer { mapping.unmap() }
        mapping.write(0x7a, at: 4096)
        XCTAssertEqual(mprotect(mapping.base, mapping.length, PROT_READ), 0)
        _ = burrow_release_clean_file_pages()
        XCTAssertEqual(mapping.byte(at: 4096), 0x7a, "a copied-on-write page was given back to its file")
        XCTAssertTrue(mapping.isResident(page: 1))
    }

    func testAWritableMappingIsLeftAlone() throws {
        let mapping = try Mapping(file: self.file, writable: true)
        defer { mapping.unmap() }
        XCTAssertEqual(mapping.byte(at: 0), 0x61)
        mapping.write(0x7a, at: 4096)
        _ = burrow_release_clean_file_pages()
        XCTAssertTrue(mapping.isResident(page: 0), "a clean page of a writable mapping was unmapped")
        XCTAssertEqual(mapping.byte(at: 4096), 0x7a)
    }

    func testResidentFileBytesCountTheBinary() {
        XCTAssertGreaterThan(burrow_resident_file_bytes(), 0)
    }
}

/// A temporary file of one repeated byte.
private struct URLPath {
    let path: String

    static func temporary(bytes: Int, fill: UInt8) throws -> URLPath {
        var template = Array("/tmp/burrow-pages-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw POSIXError(errno: errno) }
        defer { close(fd) }
        let contents = [UInt8](repeating: fill, count: bytes)
        guard contents.withUnsafeBytes({ write(fd, $0.baseAddress, bytes) }) == bytes else { throw POSIXError(errno: errno) }
        return URLPath(path: String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}

/// A private mapping of a whole file.
private struct Mapping {
    let base: UnsafeMutableRawPointer
    let length: Int

    init(file: URLPath, writable: Bool) throws {
        let fd = open(file.path, O_RDONLY)
        guard fd >= 0 else { throw POSIXError(errno: errno) }
        defer { close(fd) }
        var status = stat()
        fstat(fd, &status)
        self.length = Int(status.st_size)
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        guard let base = mmap(nil, self.length, protection, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw POSIXError(errno: errno)
        }
        self.base = base
    }

    func byte(at offset: Int) -> UInt8 {
        self.base.load(fromByteOffset: offset, as: UInt8.self)
    }

    func write(_ byte: UInt8, at offset: Int) {
        self.base.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
    }

    /// Whether the page is mapped in this process (/proc/self/pagemap's present bit).
    func isResident(page: Int) -> Bool {
        let fd = open("/proc/self/pagemap", O_RDONLY)
        precondition(fd >= 0, "no /proc/self/pagemap")
        defer { close(fd) }
        let address = Int(bitPattern: self.base) + page * 4096
        var entry: UInt64 = 0
        let read = pread(fd, &entry, 8, off_t(address / 4096 * 8))
        precondition(read == 8, "pagemap read failed")
        return entry >> 63 == 1
    }

    func unmap() {
        munmap(self.base, self.length)
    }
}

private struct POSIXError: Error {
    let errno: Int32
}
