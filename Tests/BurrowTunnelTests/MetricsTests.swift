import BurrowTestSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// `/metrics` and the dashboard on the real binary: what crosses a proxy is counted on both
/// sides, logins by result, a local service that cannot be reached; Debian's `promtool`
/// accepts the text and a real Prometheus scrapes it; headless Chromium shows the dashboard.
@Suite(.timeLimit(.minutes(2))) struct MetricsTests {
    static let adminToken = "metrics-admin-token"

    /// A server with an admin API (port from the OS, token required) and a client with one
    /// (no token), the client publishing `proxies`; returns them and their admin ports.
    static func start(
        _ harness: TunnelHarness, ports: [Int], proxies: [TunnelHarness.Proxy]
    ) async throws -> (server: PeerProcess, serverAdmin: Int, client: PeerProcess, clientAdmin: Int) {
        let server = try await harness.startServer(
            ports: ports, extra: "[admin]\nbind = \"127.0.0.1:0\"\ntoken = \"\(Self.adminToken)\"\n")
        let client = try harness.startClient(
            serverPort: server.port, proxies: proxies, extra: "[admin]\nbind = \"127.0.0.1:0\"\n")
        let serverAdmin = try await Self.adminPort(server.process)
        let clientAdmin = try await Self.adminPort(client)
        for proxy in proxies { _ = try await client.line(containing: "proxy \(proxy.name): ") }
        return (server.process, serverAdmin, client, clientAdmin)
    }

    /// The port of "admin API on http://127.0.0.1:PORT (...)".
    static func adminPort(_ process: PeerProcess) async throws -> Int {
        let line = try await process.line(containing: "admin API on http://127.0.0.1:")
        let address = try #require(line.split(separator: "http://127.0.0.1:").last?.split(separator: " ").first)
        return try #require(Int(address))
    }

    /// A GET of the admin API: the status code, then the body's lines.
    static func get(_ port: Int, _ path: String, token: String? = Self.adminToken) async throws -> [String] {
        try await AdminTests.curl("GET", port, path, token: token)
    }

    /// The value of the series `name` whose labels include `labels`, in Prometheus text.
    static func value(_ lines: [String], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in lines where line.hasPrefix(name) && !line.hasPrefix("#") {
            let rest = line.dropFirst(name.count)
            guard rest.first == "{" || rest.first == " " else { continue }
            let (labelText, valueText): (Substring, Substring)
            if rest.first == "{", let end = rest.firstIndex(of: "}") {
                (labelText, valueText) = (rest[rest.index(after: rest.startIndex)..<end], rest[rest.index(after: end)...])
            } else {
                (labelText, valueText) = ("", rest)
            }
            let pairs = labelText.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1) }
            let found = Dictionary(pairs.map { (String($0[0]), String($0[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))) },
                                   uniquingKeysWith: { first, _ in first })
            guard labels.allSatisfy({ found[$0.key] == $0.value }) else { continue }
            return Double(valueText.trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// Bytes each way through a proxy, a wrong token, a service that is down: each shows in
    /// the server's and the client's `/metrics`, and in `/status`; `promtool check metrics`
    /// finds nothing to say about either text; `/metrics` wants the token.
    @Test func metricsCountTrafficLoginsAndFailuresOnBothSides() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(3)
        let down = ports[2]  // Nobody listens there.
        let (server, serverAdmin, client, clientAdmin) = try await Self.start(harness, ports: [ports[0], ports[1]], proxies: [
            .init(name: "echo", local: echo.port, remote: ports[0]),
            .init(name: "down", local: down, remote: ports[1]),
        ])
        defer { server.terminate(); client.terminate() }

        let size = 1 << 20
        let received = try await Visitor.exchange(port: ports[0], sending: TestBytes.buffer(seed: 7, count: size), until: size)
        #expect(received.readableBytes == size)
        // A visitor for the service that is down is reset, on both counts.
        await #expect(throws: (any Error).self) { try await Visitor.exchange(port: ports[1], sending: ByteBuffer(string: "hello")) }
        _ = try await client.line(containing: "proxy down: cannot reach local service")
        // A client with a wrong token is refused.
        let serverPort = try await Self.serverPort(server)
        let intruder = try harness.startClient(serverPort: serverPort, proxies: [], name: "intruder", token: "not-the-token")
        #expect(await intruder.exitStatus() == 2, "\(intruder.lines)")

        #expect(try await Self.get(serverAdmin, "/metrics", token: nil).first == "401")
        let serverMetrics = try await Self.get(serverAdmin, "/metrics")
        #expect(serverMetrics.first == "200", "\(serverMetrics)")
        let lab = ["client": "lab", "proxy": "echo"]
        #expect(Self.value(serverMetrics, "burrow_server_sessions") == 1, "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_logins_total", ["result": "ok"]) == 1, "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_logins_total", ["result": "wrong_token"]) == 1, "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_logins_total", ["result": "replay"]) == 0, "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_unauthenticated_connections") == 0, "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_bytes_total", lab.merging(["direction": "in"]) { $1 }) == Double(size), "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_bytes_total", lab.merging(["direction": "out"]) { $1 }) == Double(size), "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_visitors_total", lab) == 1, "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_stream_resets_total", lab) == 0, "\(serverMetrics)")
        #expect(Self.value(serverMetrics, "burrow_server_stream_resets_total", ["client": "lab", "proxy": "down"]) == 1, "\(serverMetrics)")
        #expect(serverMetrics.contains("# HELP burrow_server_bytes_total Bytes carried for visitors: direction in is from visitors, out is to visitors."))
        #expect(serverMetrics.contains("# TYPE burrow_server_bytes_total counter"))

        let clientMetrics = try await Self.get(clientAdmin, "/metrics", token: nil)
        #expect(clientMetrics.first == "200", "\(clientMetrics)")
        #expect(Self.value(clientMetrics, "burrow_client_session_up") == 1, "\(clientMetrics)")
        #expect(Self.value(clientMetrics, "burrow_client_bytes_total", ["proxy": "echo", "direction": "in"]) == Double(size), "\(clientMetrics)")
        #expect(Self.value(clientMetrics, "burrow_client_bytes_total", ["proxy": "echo", "direction": "out"]) == Double(size), "\(clientMetrics)")
        #expect(Self.value(clientMetrics, "burrow_client_visitors_total", ["proxy": "echo"]) == 1, "\(clientMetrics)")
        #expect(Self.value(clientMetrics, "burrow_client_local_connect_failures_total", ["proxy": "down"]) == 1, "\(clientMetrics)")
        #expect(Self.value(clientMetrics, "burrow_client_reconnects_total", ["cause": "session_lost"]) == 0, "\(clientMetrics)")

        // /status has the same bytes, per proxy and per session.
        let status = try await Self.get(serverAdmin, "/status")
        #expect(status.contains { $0.contains("\"bytesIn\" : \(size)") }, "\(status)")
        let clientStatus = try await Self.get(clientAdmin, "/status", token: nil)
        #expect(clientStatus.contains { $0.contains("\"localConnectFailures\" : 1") }, "\(clientStatus)")
        #expect(clientStatus.contains { $0.contains("\"loggedInAt\" : ") }, "\(clientStatus)")

        // Debian's promtool lints both texts: no complaint, exit 0.
        for (side, text) in [("server", serverMetrics), ("client", clientMetrics)] {
            let file = try harness.write("\(side).prom", text.dropFirst().joined(separator: "\n") + "\n")
            let promtool = try PeerProcess("/bin/sh", ["-c", "promtool check metrics < '\(file)'"], mergeStandardError: true)
            #expect(await promtool.exitStatus() == 0, "\(side): \(promtool.lines)")
            #expect(promtool.lines.isEmpty, "\(side): \(promtool.lines)")
        }
        try await echo.channel.close()
    }

    /// The port the server's clients dial, from its "listening for clients on" line.
    static func serverPort(_ server: PeerProcess) async throws -> Int {
        let line = try await server.line(containing: "listening for clients on")
        return try #require(Int(line.split(separator: ":").last!.split(separator: " ").first!))
    }

    /// A client whose server goes away counts the lost session and is no longer up.
    @Test func aClientCountsItsReconnectsByCause() async throws {
        let harness = try await TunnelHarness()
        let ports = try await LoopbackPorts.free(1)
        let (server, _, client, clientAdmin) = try await Self.start(harness, ports: ports, proxies: [.init(name: "web", local: 9)])
        defer { client.terminate() }
        server.terminate()
        _ = try await client.line(containing: "attempt 1 to reach")
        let metrics = try await Self.get(clientAdmin, "/metrics", token: nil)
        #expect(Self.value(metrics, "burrow_client_session_up") == 0, "\(metrics)")
        #expect(Self.value(metrics, "burrow_client_reconnects_total", ["cause": "session_lost"]) == 1, "\(metrics)")
    }

    /// Debian's Prometheus, on loopback with a generated config, scrapes the server's
    /// `/metrics` with the admin token; its HTTP API then answers a query for a Burrow series.
    @Test func aRealPrometheusScrapesTheServer() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(2)
        let (server, serverAdmin, client, _) = try await Self.start(harness, ports: [ports[0]], proxies: [.init(name: "echo", local: echo.port, remote: ports[0])])
        defer { server.terminate(); client.terminate() }
        let sent = try await Visitor.exchange(port: ports[0], sending: TestBytes.buffer(seed: 8, count: 4096), until: 4096)
        #expect(sent.readableBytes == 4096)

        let config = try harness.write("prometheus.yml", """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: burrow
                authorization:
                  credentials: \(Self.adminToken)
                static_configs:
                  - targets: ["127.0.0.1:\(serverAdmin)"]
            """)
        // Prometheus cannot say which port it got from 0: a port the OS just handed out.
        let web = ports[1]
        let prometheus = try PeerProcess("/usr/bin/prometheus", [
            "--config.file=\(config)", "--storage.tsdb.path=\(harness.directory.path)/tsdb",
            "--web.listen-address=127.0.0.1:\(web)",
        ], mergeStandardError: true)
        defer { prometheus.terminate() }
        _ = try await prometheus.line(containing: "Server is ready to receive web requests")
        // Prometheus scrapes a target one scrape after another, storing each before the next
        // begins: once the server has logged a second scrape, the first is in Prometheus's store.
        _ = try await server.line(containing: "admin API: GET /metrics")
        _ = try await server.line(containing: "admin API: GET /metrics", after: server.lineCount)
        let query = "burrow_server_bytes_total%7Bclient%3D%22lab%22%2Cproxy%3D%22echo%22%2Cdirection%3D%22in%22%7D"
        // -w: PeerProcess keeps whole lines only, and the answer has no newline of its own.
        let curl = try PeerProcess("/usr/bin/curl", ["-sS", "--max-time", "10", "-w", "\n",
                                                      "http://127.0.0.1:\(web)/api/v1/query?query=\(query)"], mergeStandardError: true)
        #expect(await curl.exitStatus() == 0, "\(curl.lines)")
        let answer = curl.lines
        #expect(answer.joined().contains("\"job\":\"burrow\""), "\(answer)")
        #expect(answer.joined().contains("\"4096\""), "\(answer)")
        try await echo.channel.close()
    }

    /// In the dashboard's DOM: the "web" proxy's row shows a rate of KiB/s or more, in and out.
    static let busyRowHasARate = """
        [...document.querySelectorAll("section.client tr")].some(row => row.cells[0].textContent === "web" \
        && /iB\\/s$/.test(row.cells[3].textContent) && /iB\\/s$/.test(row.cells[4].textContent))
        """

    /// The dashboard in headless Chromium: with the token from the address, it shows the
    /// client, where it came from and over what, its proxies and public ports, a visitor held
    /// open with the bytes it sent, and one sending all along, at a rate; the picture goes to
    /// the test's directory (and, with BURROW_DASHBOARD_PNG set, there: how docs/dashboard.png
    /// is made). Without a token the page asks for one.
    @Test func headlessChromiumShowsTheDashboard() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(2)
        let (server, serverAdmin, client, _) = try await Self.start(harness, ports: ports, proxies: [
            .init(name: "ssh", local: echo.port, remote: ports[0]),
            .init(name: "web", local: echo.port, remote: ports[1]),
        ])
        defer { server.terminate(); client.terminate() }
        let held = try await HeldVisitor.connect(port: ports[0])
        let chunk = String(repeating: "x", count: 64 * 1024)
        #expect(try await held.echo(chunk).count == chunk.count)
        // Traffic all along on the other proxy, until the page has been read.
        let busy = try await HeldVisitor.connect(port: ports[1])
        let stop = NIOLockedValueBox(false)
        let traffic = Task {
            while !stop.withLockedValue({ $0 }) { _ = try await busy.echo(chunk) }
        }

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/chromium_dom.py").path
        let picture = ProcessInfo.processInfo.environment["BURROW_DASHBOARD_PNG"] ?? "\(harness.directory.path)/dashboard.png"
        let chromium = try PeerProcess("/usr/bin/python3", [
            script, "http://127.0.0.1:\(serverAdmin)/#token=\(Self.adminToken)", "\(harness.directory.path)/chromium",
            // Until a refresh shows the busy proxy at a rate (the first one cannot: a rate takes two).
            "--until", Self.busyRowHasARate, "--screenshot", picture, "--timeout", "60",
        ], mergeStandardError: true)
        #expect(await chromium.exitStatus() == 0, "\(chromium.lines)")
        stop.withLockedValue { $0 = true }
        try await traffic.value
        let dom = chromium.lines.joined(separator: "\n")
        #expect(dom.contains("data-client=\"lab\""), "\(dom)")
        #expect(dom.contains("from 127.0.0.1:"), "\(dom)")
        #expect(dom.contains(" over tcp"), "\(dom)")
        #expect(dom.contains("<td>ssh</td><td>tcp \(ports[0])</td><td class=\"num\">1</td>"), "\(dom)")
        #expect(dom.contains("<td class=\"num\">64.0 KiB</td><td class=\"num\">64.0 KiB</td>"), "\(dom)")
        // The busy visitor's row: one visitor, and a rate each way of at least KiB/s.
        let web = dom.components(separatedBy: "<td>web</td>").last?.components(separatedBy: "</tr>").first ?? ""
        #expect(web.hasPrefix("<td>tcp \(ports[1])</td><td class=\"num\">1</td>"), "\(web)")
        #expect(web.components(separatedBy: "iB/s</td>").count == 3, "\(web)")
        let png = try Data(contentsOf: URL(fileURLWithPath: picture))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "\(png.count) bytes")

        let asking = try PeerProcess("/usr/bin/python3", [
            script, "http://127.0.0.1:\(serverAdmin)/", "\(harness.directory.path)/chromium-2",
            "--until", "document.querySelector('input[type=password]') !== null",
        ], mergeStandardError: true)
        #expect(await asking.exitStatus() == 0, "\(asking.lines)")
        #expect(asking.lines.joined().contains("This admin API needs its token"), "\(asking.lines)")
        #expect(!asking.lines.joined().contains("<section class=\"client\""), "\(asking.lines)")
        _ = held
        try await echo.channel.close()
    }
}
