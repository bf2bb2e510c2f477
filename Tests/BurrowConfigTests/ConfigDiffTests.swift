import BurrowConfig
import Foundation
import Testing

/// What a reload would change, computed from two configs alone.
@Suite struct ConfigDiffTests {
    static func server(_ extra: String = "", tokens: String) throws -> ServerConfig {
        try ServerConfig.parse("bind = \"0.0.0.0:7000\"\n\(extra)\n\(tokens)", environment: [:])
    }

    static let home = "[[tokens]]\nname = \"home\"\ntoken = \"home-token-1\"\nports = [6000]\n"
    static let lab = "[[tokens]]\nname = \"lab\"\ntoken = \"lab-token-12\"\nports = [7000]\n"

    @Test func theSameConfigChangesNothing() throws {
        let config = try Self.server(tokens: Self.home + Self.lab)
        let diff = ConfigDiff(old: config, new: config)
        #expect(diff.isEmpty)
        #expect(!diff.needsRestart)
    }

    @Test func tokensAreAddedRemovedOrChangedByName() throws {
        let old = try Self.server(tokens: Self.home + Self.lab)
        let new = try Self.server(tokens: Self.home.replacingOccurrences(of: "[6000]", with: "[6000, 6001]")
            + "[[tokens]]\nname = \"office\"\ntoken = \"office-token\"\nports = [8000]\n")
        let diff = ConfigDiff(old: old, new: new)
        #expect(diff.entries == .init(added: ["office"], removed: ["lab"], changed: ["home"]))
        #expect(diff.settings.isEmpty)
        // A new secret for the same name is a change too.
        let rekeyed = try Self.server(tokens: Self.home.replacingOccurrences(of: "home-token-1", with: "home-token-2"))
        #expect(ConfigDiff(old: try Self.server(tokens: Self.home), new: rekeyed).entries.changed == ["home"])
    }

    @Test func eachServerSettingSaysWhenItTakesEffect() throws {
        let old = try Self.server(tokens: Self.home)
        let new = try ServerConfig.parse("""
            bind = "0.0.0.0:7001"
            heartbeat_interval = 5
            max_pending_logins = 10
            \(Self.home)
            """, environment: [:])
        let diff = ConfigDiff(old: old, new: new)
        #expect(diff.settings.map(\.description) == ["bind (restart)", "heartbeat_interval (next session)", "max_pending_logins (now)"])
        #expect(diff.needsRestart)
    }

    @Test func proxiesAndClientSettingsToo() throws {
        let base = "server = \"tcp://example.com:7000\"\ntoken = \"long-enough\"\nname = \"lab\"\n"
        let ssh = "[[proxies]]\nname = \"ssh\"\nlocal = \"127.0.0.1:22\"\nremote_port = 6000\n"
        let web = "[[proxies]]\nname = \"web\"\nlocal = \"127.0.0.1:80\"\n"
        let old = try ClientConfig.parse(base + ssh + web, environment: [:])
        let new = try ClientConfig.parse(base.replacingOccurrences(of: "7000", with: "7001") + "[reconnect]\nmax_delay = 5\n"
            + ssh.replacingOccurrences(of: "6000", with: "6001") + "[[proxies]]\nname = \"dns\"\nlocal = \"127.0.0.1:53\"\n", environment: [:])
        let diff = ConfigDiff(old: old, new: new)
        #expect(diff.entries == .init(added: ["dns"], removed: ["web"], changed: ["ssh"]))
        #expect(diff.settings.map(\.description) == ["server (next session)", "reconnect (now)"])
        #expect(!diff.needsRestart)
    }
}
