/// Everything wrong with a config file, each problem with the key path it concerns and, where
/// the file shows it, the line and column.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public struct Problem: Equatable, Sendable, CustomStringConvertible {
        /// Where: `bind`, `tokens[0].ports[2]`, `proxies[1].remote_port`; empty for the file.
        public var path: String
        public var message: String
        /// Where in the file: a syntax error's place, or the line that defines `path`'s key.
        public var position: TOMLPosition?

        public init(path: String, message: String, position: TOMLPosition? = nil) {
            self.path = path
            self.message = message
            self.position = position
        }

        /// `path: message`, as `burrow check` prints it after the position.
        public var description: String { self.path.isEmpty ? self.message : "\(self.path): \(self.message)" }
    }

    /// The file concerned, when read from one.
    public var file: String?
    public var problems: [Problem]

    public init(file: String? = nil, problems: [Problem]) {
        self.file = file
        self.problems = problems
    }

    /// One problem per line, each led by `file:line:column:` as compilers print it (editors
    /// jump there), then the count: `server.toml:7:12: expected '=' after key "bind"`.
    public var description: String {
        let file = self.file ?? "config"
        let lines = self.problems.map { problem in
            let place = problem.position.map { "\(file):\($0.line):\($0.column)" } ?? file
            return "\(place): \(problem)\n"
        }
        return lines.joined() + "\(file): \(self.problems.count == 1 ? "1 problem" : "\(self.problems.count) problems")"
    }
}
