import BurrowConfig
import Testing

/// The reader's own promises beyond the corpus: positions users can act on, limits a hostile
/// file cannot pass, and no trap or stack overflow on any input.
@Suite struct TOMLParserTests {
    /// The error a document gets, as `line:column: message`.
    func error(_ text: String, limits: TOMLParser.Limits = .init()) -> String? {
        do {
            _ = try TOMLParser.parse(text, limits: limits)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func errorsSayWhereAndWhatWasExpected() {
        #expect(self.error("bind \"0.0.0.0:7000\"") == "1:6: expected '=' after key \"bind\", found '\"'")
        #expect(self.error("a = 1\n\n[t]\nb = 2 3\n") == "4:7: expected a new line after the value of \"b\", found '3'")
        #expect(self.error("a = 1\r\nb = ") == "2:5: expected a value, found end of file")
        #expect(self.error("port = six") == "1:8: expected a value, found a bare word (strings need quotes)")
        #expect(self.error("a = [1, 2") == "1:5: array is never closed with ']'")
        #expect(self.error("a = 1\na = 2") == "2:1: key \"a\" is defined twice")
    }

    /// Columns count characters, not bytes: an editor's cursor lands on the culprit.
    @Test func columnsCountCharacters() {
        #expect(self.error("name = \"héllo wörld\" x") == "1:22: expected a new line after the value of \"name\", found 'x'")
        #expect(self.error("[é]") == "1:2: expected a table name, found 'é' (U+00E9)")
    }

    @Test func readsTheTypesAConfigUses() throws {
        let table = try TOMLParser.parse("""
            bind = "0.0.0.0:7000"   # comment
            ports = [6000, "6100-6110",]
            big = 9_223_372_036_854_775_807
            small = -9223372036854775808
            hex = 0xFF
            ratio = 1.5e3
            on = true
            when = 1979-05-27T07:32:00.25-07:00
            [admin]
            headers = { Host = "example.com", "X-Key".a = 'v' }
            [[proxies]]
            name = "ssh"
            [[proxies]]
            name = "web"
            """)
        #expect(table["bind"] == .string("0.0.0.0:7000"))
        #expect(table["ports"] == .array([.integer(6000), .string("6100-6110")]))
        #expect(table["big"] == .integer(.max))
        #expect(table["small"] == .integer(.min))
        #expect(table["hex"] == .integer(255))
        #expect(table["ratio"] == .float(1500))
        #expect(table["on"] == .boolean(true))
        #expect(table["when"]?.kindName == "a date-time")
        #expect("\(table["when"].map { if case .dateTime(let moment) = $0 { moment.description } else { "" } } ?? "")" == "1979-05-27T07:32:00.25-07:00")
        #expect(table["admin"]?.table?["headers"]?.table?["X-Key"]?.table?["a"] == .string("v"))
        #expect(table["proxies"]?.array?.compactMap { $0.table?["name"]?.string } == ["ssh", "web"])
        #expect(table.keys == ["bind", "ports", "big", "small", "hex", "ratio", "on", "when", "admin", "proxies"])
        #expect(table.position(of: "ratio") == TOMLPosition(line: 6, column: 1))
    }

    @Test func integersThatDoNotFitAreErrorsNotTraps() {
        #expect(self.error("a = 9223372036854775808") == "1:5: integer 9223372036854775808 does not fit in 64 bits")
        #expect(self.error("a = -9223372036854775809") == "1:5: integer -9223372036854775809 does not fit in 64 bits")
        #expect(self.error("a = 0xFFFFFFFFFFFFFFFFF") == "1:5: integer 0xFFFFFFFFFFFFFFFFF does not fit in 64 bits")
        #expect(self.error("a = 1e400") == "1:5: float 1e400 is out of range")
        #expect(self.error("a = 0X1F") == "1:5: invalid integer 0X1F: the prefixes are lower case (0x, 0o, 0b)")
    }

    /// TOML 1.0's rules on defining a table once, as the spec's own examples state them.
    @Test func tablesAreDefinedOnce() {
        #expect(self.error("[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true") == nil)
        #expect(self.error("[fruit]\napple.color = \"red\"\n[fruit.apple]") == "3:8: table [fruit.apple] was already defined by dotted keys")
        #expect(self.error("[x.y.z]\n[x]\n[x.y]") == nil)
        #expect(self.error("[a]\n[a]") == "2:2: table [a] is defined twice")
        #expect(self.error("[a.b]\nc = 1\n[a]\nb.d = 2") == "4:1: table b was defined by a [header]; dotted keys cannot add to it")
        #expect(self.error("a = {b = 1}\n[a.c]") == "2:2: a is an inline table, which is complete; a header cannot add to it")
        #expect(self.error("a = {b = 1}\na.c = 2") == "2:1: a is an inline table, which is complete; dotted keys cannot add to it")
        #expect(self.error("a = []\n[[a]]") == "2:3: [[a]] cannot append to a: it was written as an array value, which is complete")
        #expect(self.error("[[a]]\n[a.b]\nx = 1\n[[a]]\n[a.b]\nx = 2") == nil)
    }

    // MARK: - Limits

    @Test func aFileLargerThanAConfigIsRefusedUnread() {
        let limits = TOMLParser.Limits()
        let exactly = [UInt8](repeating: UInt8(ascii: "\n"), count: limits.maximumBytes)
        #expect(throws: Never.self) { try TOMLParser.parse(exactly) }
        #expect(self.error(String(repeating: "\n", count: limits.maximumBytes + 1)) == "1:1: 1048577 bytes is too large for a config file (at most 1048576)")
    }

    /// Nesting is counted, not recursed into without bound: a file of 100,000 brackets is an
    /// error at the 33rd, not a stack overflow.
    @Test func deepNestingIsAnErrorNotAStackOverflow() {
        let deep = 100_000
        #expect(self.error("a = " + String(repeating: "[", count: deep)) == "1:37: values nested more than 32 deep")
        #expect(self.error("a = " + String(repeating: "{b = ", count: deep)) == "1:165: values nested more than 32 deep")
        let header = (0..<deep).map { _ in "t" }.joined(separator: ".")
        #expect(self.error("[\(header)]")?.hasSuffix("a key of more than 32 parts") == true)
        #expect(self.error("\(header) = 1")?.hasSuffix("a key of more than 32 parts") == true)
        // Depth adds up across headers, dotted keys and values.
        let sixteen = (0..<16).map { "k\($0)" }.joined(separator: ".")
        #expect(self.error("[\(sixteen)]\n\(sixteen).x = 1")?.hasSuffix("nested more than 32 deep") == true)
        #expect(self.error("[\(sixteen)]\n\(sixteen) = [[[1]]]")?.hasSuffix("values nested more than 32 deep") == true)
        #expect(self.error("[\(sixteen)]\na.b.c = [[[1]]]") == nil)
    }

    /// The biggest file allowed, as one line of 80,000 keys: read in one pass (a column computed
    /// per key would scan the line each time), and its problems listed up to a hundred.
    @Test func aLongLineOfKeysIsReadOnceAndItsProblemsCapped() throws {
        let keys = (0..<80_000).map { "k\($0) = 1" }.joined(separator: ", ")
        let text = "bind = \"127.0.0.1:7000\"\n[[tokens]]\nname = \"a\"\ntoken = \"long-enough\"\nports = [1]\nextra = { \(keys) }"
        #expect(text.utf8.count < TOMLParser.Limits().maximumBytes)
        let table = try TOMLParser.parse(text)
        #expect(table["tokens"]?.array?.first?.table?["extra"]?.table?.count == 80_000)
        let wide = "bind = \"127.0.0.1:7000\"\n" + (0..<150).map { "k\($0) = 1" }.joined(separator: "\n")
            + "\n[[tokens]]\nname = \"a\"\ntoken = \"long-enough\"\nports = [1]"
        let problems = configProblems(wide, client: false)
        #expect(problems.count == 101)
        #expect(problems.first == "k0: unknown key")
        #expect(problems.last == "50 more problems not listed")
    }

    @Test func longStringsAreRefused() {
        var limits = TOMLParser.Limits()
        limits.maximumStringBytes = 16
        #expect(self.error("a = \"0123456789abcdef\"", limits: limits) == nil)
        #expect(self.error("a = \"0123456789abcdefg\"", limits: limits) == "1:5: string longer than 16 bytes")
        #expect(self.error("a = '''\n0123456789\nabcdefg'''", limits: limits) == "1:5: string longer than 16 bytes")
        #expect(self.error("\"0123456789abcdefg\" = 1", limits: limits) == "1:1: string longer than 16 bytes")
    }

    /// The check of the conformance test itself: a wrong value is seen as wrong.
    @Test func theConformanceComparisonCanFail() {
        let table = TOMLValue.table(try! TOMLParser.parse("a = 1\nb = [1.5]\nc = 1987-07-05T17:45:00Z"))
        let right: [String: Any] = [
            "a": ["type": "integer", "value": "1"],
            "b": [["type": "float", "value": "1.5"]],
            "c": ["type": "datetime", "value": "1987-07-05T17:45:00.000+00:00"],
        ]
        #expect(TOMLConformanceTests.mismatch(table, right, at: "") == nil)
        var wrong = right
        wrong["a"] = ["type": "float", "value": "1"]
        #expect(TOMLConformanceTests.mismatch(table, wrong, at: "") != nil)
        wrong = right
        wrong["b"] = [["type": "float", "value": "1.25"]]
        #expect(TOMLConformanceTests.mismatch(table, wrong, at: "") != nil)
        wrong = right
        wrong["c"] = ["type": "datetime-local", "value": "1987-07-05T17:45:00"]
        #expect(TOMLConformanceTests.mismatch(table, wrong, at: "") != nil)
        wrong = right
        wrong["d"] = ["type": "bool", "value": "true"]
        #expect(TOMLConformanceTests.mismatch(table, wrong, at: "") != nil)
    }
}
