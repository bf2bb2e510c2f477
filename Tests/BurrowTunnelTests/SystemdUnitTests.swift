import BurrowTestSupport
import Foundation
import Testing

/// dist/burrow-server.service and dist/burrow-client.service, checked by systemd itself:
/// `systemd-analyze verify` prints a line for every unknown key or value it ignores (and still
/// exits 0), so a unit passes only when it prints nothing. The units name
/// /usr/local/bin/burrow; the test points them at the binary under test.
@Suite struct SystemdUnitTests {
    @Test(arguments: ["burrow-server.service", "burrow-client.service"])
    func systemdAcceptsTheUnit(_ name: String) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let unit = try String(contentsOf: root.appendingPathComponent("dist/\(name)"), encoding: .utf8)
        #expect(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        let harness = try await TunnelHarness()
        let path = try harness.write(name, unit.replacingOccurrences(of: "/usr/local/bin/burrow", with: TunnelHarness.binary))
        let verify = try PeerProcess("/usr/bin/systemd-analyze", ["verify", path], mergeStandardError: true)
        #expect(await verify.exitStatus() == 0)
        #expect(verify.lines.isEmpty, "\(verify.lines)")
    }
}
