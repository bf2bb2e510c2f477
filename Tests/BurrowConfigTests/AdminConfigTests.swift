import BurrowConfig
import Foundation
import Testing

/// `[admin]` in server.toml and client.toml.
@Suite struct AdminConfigTests {
    static let server = "bind = \"0.0.0.0:7000\"\n[[tokens]]\nname = \"a\"\ntoken = \"long-enough\"\nports = [1]\n"

    @Test func anAdminAPIIsReadWithItsToken() throws {
        let config = try ServerConfig.parse(Self.server + "[admin]\nbind = \"127.0.0.1:7400\"\ntoken_env = \"ADMIN\"\n", environment: ["ADMIN": "admin-secret"])
        #expect(config.admin == AdminSettings(bind: Endpoint(host: "127.0.0.1", port: 7400), token: Secret("admin-secret")))
        #expect(try ServerConfig.parse(Self.server, environment: [:]).admin == nil)
    }

    @Test func anAdminAPIOffLoopbackNeedsAToken() {
        #expect(configProblems(Self.server + "[admin]\nbind = \"0.0.0.0:7400\"\n", client: false) == [
            "admin.bind: 0.0.0.0:7400 is not a loopback address: set token (or token_env) so that only its holders can reload or stop this process",
        ])
        #expect(configProblems(Self.server + "[admin]\nbind = \"[::1]:7400\"\n", client: false).isEmpty)
        #expect(configProblems(Self.server + "[admin]\nbind = \"127.0.0.1:7400\"\ncolour = 1\n", client: false) == ["admin.colour: unknown key"])
    }

    @Test func aReloadReportSaysWhatChangedInOneLine() throws {
        let old = try ServerConfig.parse(Self.server, environment: [:])
        let new = try ServerConfig.parse(Self.server.replacingBind("0.0.0.0:7001") + "[[tokens]]\nname = \"b\"\ntoken = \"another-one\"\nports = [2]\n", environment: [:])
        let report = ReloadReport(entries: ConfigDiff(old: old, new: new)) { _ in "needs a restart" }
        #expect(report.added == ["b"])
        #expect(report.summary == "added b; not applied: bind: needs a restart")
    }
}

/// `GET /now`: the running configuration as TOML, secrets redacted, reads back as the same
/// configuration (the repository's example files, every key they set).
@Suite struct ConfigRenderingTests {
    static func example(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func theServerExampleReadsBackTheSame() throws {
        var config = try ServerConfig.parse(try Self.example("server.toml"), environment: [:])
        config.admin = AdminSettings(bind: Endpoint(host: "127.0.0.1", port: 7400), token: Secret("admin-secret"))
        let text = config.redactedTOML
        #expect(!text.contains("change-me") && !text.contains("admin-secret"), "\(text)")
        var back = try ServerConfig.parse(text, environment: [:])
        #expect(back.tokens.allSatisfy { $0.token == Secret("<redacted>") })
        back.tokens = config.tokens
        back.admin?.token = config.admin?.token
        #expect(back == config)
    }

    @Test func theClientExampleReadsBackTheSame() throws {
        let config = try ClientConfig.parse(try Self.example("client.toml"), environment: [:])
        let text = config.redactedTOML
        #expect(!text.contains(config.token.value), "\(text)")
        var back = try ClientConfig.parse(text, environment: [:])
        back.token = config.token
        #expect(back == config)
    }
}

extension String {
    fileprivate func replacingBind(_ bind: String) -> String {
        "bind = \"\(bind)\"\n" + self.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().joined(separator: "\n")
    }
}
