/// Everything wrong with a config file, each problem with the key path it concerns.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public struct Problem: Equatable, Sendable, CustomStringConvertible {
        /// Where: `bind`, `tokens[0].ports[2]`, `proxies[1].remote_port`; empty for the file.
        public var path: String
        public var message: String

        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }

        public var description: String { self.path.isEmpty ? self.message : "\(self.path): \(self.message)" }
    }

    /// The file concerned, when read from one.
    public var file: String?
    public var problems: [Problem]

    public init(file: String? = nil, problems: [Problem]) {
        self.file = file
        self.problems = problems
    }

    public var description: String {
        let lines = self.problems.map { "  \($0)" }.joined(separator: "\n")
        let count = self.problems.count == 1 ? "1 problem" : "\(self.problems.count) problems"
        return "\(self.file ?? "config"): \(count):\n\(lines)"
    }
}
