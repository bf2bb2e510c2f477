/// Walks one TOML table, reading typed values and collecting problems with their key paths and,
/// where the file defined the key, its line: every message says where and what:
/// `proxies[1].remote_port: expected an integer port, got "six"`.
final class TableReader {
    let path: String
    private let table: TOMLTable
    private let problems: ProblemList
    private var known: Set<String> = []

    init(_ table: TOMLTable, path: String, problems: ProblemList) {
        self.table = table
        self.path = path
        self.problems = problems
    }

    /// The full path of `key` in this table.
    func path(of key: String) -> String {
        self.path.isEmpty ? key : "\(self.path).\(key)"
    }

    func report(_ key: String?, _ message: String) {
        self.problems.add(path: key.map(self.path(of:)) ?? self.path, message, at: key.flatMap { self.table.position(of: $0) })
    }

    /// Reports a problem at a full path (an array element, say) inside the value of `key`.
    func report(at path: String, in key: String, _ message: String) {
        self.problems.add(path: path, message, at: self.table.position(of: key))
    }

    func has(_ key: String) -> Bool {
        self.table[key] != nil
    }

    /// The raw value of `key`, marking the key as known.
    func value(_ key: String, required: Bool = false) -> TOMLValue? {
        self.known.insert(key)
        guard let value = self.table[key] else {
            if required { self.report(key, "missing (required)") }
            return nil
        }
        return value
    }

    func string(_ key: String, required: Bool = false) -> String? {
        guard let value = self.value(key, required: required) else { return nil }
        guard let string = value.string else {
            self.report(key, "expected a string, got \(Self.describe(value))")
            return nil
        }
        return string
    }

    func bool(_ key: String) -> Bool? {
        guard let value = self.value(key) else { return nil }
        guard let bool = value.bool else {
            self.report(key, "expected true or false, got \(Self.describe(value))")
            return nil
        }
        return bool
    }

    /// A port number 1...65535 (0 too when `allowZero`).
    func port(_ key: String, required: Bool = false) -> Int? {
        guard let value = self.value(key, required: required) else { return nil }
        guard let port = value.int else {
            self.report(key, "expected an integer port, got \(Self.describe(value))")
            return nil
        }
        guard (1...65535).contains(port) else {
            self.report(key, "\(port) is not a port (1-65535)")
            return nil
        }
        return port
    }

    /// An integer within `range`.
    func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = self.value(key) else { return nil }
        guard let number = value.int else {
            self.report(key, "expected an integer, got \(Self.describe(value))")
            return nil
        }
        guard range.contains(number) else {
            self.report(key, "\(number) is out of range (\(range.lowerBound)-\(range.upperBound))")
            return nil
        }
        return number
    }

    /// `host:port`.
    func endpoint(_ key: String, required: Bool = false) -> Endpoint? {
        guard let text = self.string(key, required: required) else { return nil }
        guard let endpoint = Endpoint(parsing: text) else {
            self.report(key, "expected \"host:port\", got \"\(text)\"")
            return nil
        }
        return endpoint
    }

    /// A duration from 1 ms to a day: seconds as an integer, or a string like "250ms", "10s",
    /// "2m". Checked as a number before it becomes a `Duration`, so no value can overflow the
    /// clock's integers.
    func duration(_ key: String) -> Duration? {
        guard let value = self.value(key) else { return nil }
        let seconds: Double?
        if let whole = value.int {
            seconds = Double(whole)
        } else if let text = value.string {
            seconds = Duration.parseSeconds(text)
        } else {
            seconds = nil
        }
        guard let seconds else {
            self.report(key, "expected a duration such as 10 (seconds), \"500ms\" or \"2m\", got \(Self.describe(value))")
            return nil
        }
        let milliseconds = (seconds * 1000).rounded()
        guard milliseconds >= 1, seconds <= Duration.configurableMaximumSeconds else {
            self.report(key, "\(Self.describe(value)) is out of range: a duration must be from 1ms to 24h")
            return nil
        }
        return .milliseconds(Int64(milliseconds))
    }

    /// A secret given inline (`key`) or through an environment variable (`key_env`).
    func secret(_ key: String, environment: [String: String]) -> Secret? {
        let inline = self.string(key)
        let variable = self.string("\(key)_env")
        switch (inline, variable) {
        case (nil, nil):
            if !self.has(key) && !self.has("\(key)_env") {
                self.report(key, "missing (required; or set \(key)_env to the name of an environment variable holding it)")
            }
            return nil
        case (.some, .some):
            self.report(key, "give either \(key) or \(key)_env, not both")
            return nil
        case (.some(let secret), nil):
            return self.checked(secret, key: key)
        case (nil, .some(let name)):
            guard let secret = environment[name] else {
                self.report("\(key)_env", "environment variable \(name) is not set")
                return nil
            }
            return self.checked(secret, key: "\(key)_env")
        }
    }

    private func checked(_ secret: String, key: String) -> Secret? {
        guard secret.count >= 8 else {
            self.report(key, "a token must be at least 8 characters (make one with `burrow token`)")
            return nil
        }
        return Secret(secret)
    }

    /// A sub-table (`[admin]`), or nil when absent.
    func table(_ key: String) -> TableReader? {
        guard let value = self.value(key) else { return nil }
        guard let table = value.table else {
            self.report(key, "expected a table ([\(key)]), got \(Self.describe(value))")
            return nil
        }
        return TableReader(table, path: self.path(of: key), problems: self.problems)
    }

    /// An array of tables (`[[proxies]]`); empty when absent.
    func tables(_ key: String) -> [TableReader] {
        guard let value = self.value(key) else { return [] }
        guard let array = value.array else {
            self.report(key, "expected an array of tables ([[\(key)]]), got \(Self.describe(value))")
            return []
        }
        return array.enumerated().compactMap { index, element in
            let path = "\(self.path(of: key))[\(index)]"
            guard let table = element.table else {
                self.report(at: path, in: key, "expected a table, got \(Self.describe(element))")
                return nil
            }
            return TableReader(table, path: path, problems: self.problems)
        }
    }

    /// A table of strings (`headers = { Host = "example.com" }`), sorted by key; nil when absent.
    func stringTable(_ key: String) -> [(key: String, value: String)]? {
        guard let table = self.table(key) else { return nil }
        var entries: [(key: String, value: String)] = []
        for name in table.table.keys.sorted() {
            if let value = table.string(name) { entries.append((name, value)) }
        }
        return entries
    }

    /// An array of values, each with its own path.
    func array(_ key: String, required: Bool = false) -> [(path: String, value: TOMLValue)]? {
        guard let value = self.value(key, required: required) else { return nil }
        guard let array = value.array else {
            self.report(key, "expected an array, got \(Self.describe(value))")
            return nil
        }
        return array.enumerated().map { ("\(self.path(of: key))[\($0.offset)]", $0.element) }
    }

    /// Reports every key that was never asked for: typos must not pass silently.
    func rejectUnknownKeys() {
        for key in self.table.keys.sorted() where !self.known.contains(key) {
            self.report(key, "unknown key")
        }
    }

    /// A value as a user would recognise it in an error message.
    static func describe(_ value: TOMLValue) -> String {
        switch value {
        case .string(let text): "\"\(text)\""
        case .integer(let number): "\(number)"
        case .float(let number): "\(number)"
        case .boolean(let flag): "\(flag)"
        case .dateTime(let moment): "\(moment)"
        case .table: "a table"
        case .array: "an array"
        }
    }
}

/// Problems found so far, shared by the readers of one file. The first 100 are kept, as
/// compilers stop listing errors at some count: past that a file is not a config with mistakes
/// but something else, and listing more would only cost time.
final class ProblemList {
    static let maximum = 100
    private var kept: [ConfigError.Problem] = []
    private var omitted = 0

    func add(path: String, _ message: String, at position: @autoclosure () -> TOMLPosition? = nil) {
        guard self.kept.count < Self.maximum else {
            self.omitted += 1
            return
        }
        self.kept.append(.init(path: path, message: message, position: position()))
    }

    var problems: [ConfigError.Problem] {
        self.omitted == 0 ? self.kept : self.kept + [.init(path: "", message: "\(self.omitted) more problems not listed")]
    }
}
