import CMemorySupport
import Glibc
import XCTest

/// `burrow_release_clean_file_pages` unmaps pages that can be read again from their file
/// unchanged, and nothing else: a private mapping whose pages were written (as the dynamic
/// loader writes the relocated RELRO segment before making it read-only) keeps what was written.
/// `burrow_release_unwritten_pages` does the same page by page inside a writable mapping, for
/// the executable's constants, which the linker places in its writable segment.
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

    func testUnwrittenPagesOfAWritableMappingAreGivenBackAndWrittenOnesKept() throws {
        let mapping = try Mapping(file: self.file, writable: true)
        defer { mapping.unmap() }
        for page in [0, 2, 3] { XCTAssertEqual(mapping.byte(at: page * 4096), 0x61) }
        mapping.write(0x7a, at: 4096)
        XCTAssertEqual(burrow_release_unwritten_pages(mapping.base, mapping.length), 3 * 4096)
        XCTAssertFalse(mapping.isResident(page: 0))
        XCTAssertFalse(mapping.isResident(page: 2))
        XCTAssertTrue(mapping.isResident(page: 1), "a written page was given back")
        XCTAssertEqual(mapping.byte(at: 4096), 0x7a)
        XCTAssertEqual(mapping.byte(at: 0), 0x61, "read again from the file")
    }

    func testOnlyWholePagesOfTheRangeAreGivenBack() throws {
        let mapping = try Mapping(file: self.file, writable: true)
        defer { mapping.unmap() }
        for page in 0..<4 { XCTAssertEqual(mapping.byte(at: page * 4096), 0x61) }
        // Pages 0 and 3 are only partly in the range: their other bytes may be someone's data.
        XCTAssertEqual(burrow_release_unwritten_pages(mapping.base + 100, 3 * 4096), 2 * 4096)
        XCTAssertTrue(mapping.isResident(page: 0))
        XCTAssertFalse(mapping.isResident(page: 1))
        XCTAssertFalse(mapping.isResident(page: 2))
        XCTAssertTrue(mapping.isResident(page: 3))
    }

    func testTheExecutablesConstantsAreFoundAndGivenBack() throws {
        var start: UnsafeMutableRawPointer?
        var length = 0
        XCTAssertEqual(burrow_executable_section(".rodata", &start, &length), 1)
        let constants = try XCTUnwrap(start)
        XCTAssertGreaterThan(length, 0)
        XCTAssertEqual(mappedFile(containing: constants), try executablePath())
        XCTAssertEqual(burrow_executable_section(".no-such-section", &start, &length), 0)

        // Every page read (so resident), then given back, then read again from the file.
        let constantBytes = UnsafeRawBufferPointer(start: constants, count: length)
        func pageSums() -> [UInt64] {
            stride(from: 0, to: length, by: 4096).map { constantBytes[$0..<min($0 + 4096, length)].reduce(0) { $0 &+ UInt64($1) } }
        }
        let sums = pageSums()
        XCTAssertGreaterThan(burrow_release_unwritten_pages(constants, length), 0)
        XCTAssertEqual(pageSums(), sums)
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
        pagemapEntry(address: Int(bitPattern: self.base) + page * 4096) >> 63 == 1
    }

    func unmap() {
        munmap(self.base, self.length)
    }
}

/// The page's entry in /proc/self/pagemap (bit 63: present; bit 61: a page of a file).
private func pagemapEntry(address: Int) -> UInt64 {
    let fd = open("/proc/self/pagemap", O_RDONLY)
    precondition(fd >= 0, "no /proc/self/pagemap")
    defer { close(fd) }
    var entry: UInt64 = 0
    let read = pread(fd, &entry, 8, off_t(address / 4096 * 8))
    precondition(read == 8, "pagemap read failed")
    return entry
}

/// The file of the mapping in /proc/self/maps that holds `address` ("" for anonymous memory).
private func mappedFile(containing address: UnsafeMutableRawPointer) -> String? {
    guard let maps = fopen("/proc/self/maps", "r") else { return nil }
    defer { fclose(maps) }
    var line = [CChar](repeating: 0, count: 4096)
    while fgets(&line, Int32(line.count), maps) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        let bounds = fields[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
        let at = UInt(bitPattern: Int(bitPattern: address))
        if bounds.count == 2, bounds[0] <= at, at < bounds[1] {
            return fields.count >= 6 ? String(fields[5].filter { $0 != "\n" }) : ""
        }
    }
    return nil
}

private func executablePath() throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { throw POSIXError(errno: errno) }
    return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private struct POSIXError: Error {
    let errno: Int32
}
