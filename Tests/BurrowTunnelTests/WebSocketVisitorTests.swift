import BurrowTestSupport
import Foundation
import NIOCore
import Testing

/// `type = "websocket"` proxies: WebSocket visitors (python3-websockets, curl) on a public port,
/// bridged to a local TCP service.
@Suite(.timeLimit(.minutes(2))) struct WebSocketVisitorTests {
    static var visitorScript: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/ws_visitor.py").path
    }
    static var hostileScript: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/ws_hostile.py").path
    }

    /// Binary and text messages, a 1 MiB message and a ping, through a proxy sending binary and
    /// one sending text.
    @Test func aWebSocketVisitorReachesATCPServiceInBinaryAndInText() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(2)
        let server = try await harness.startServer(ports: ports)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [
            .init(name: "bin", local: echo.port, remote: ports[0], type: "websocket", settings: "path = \"/socket\""),
            .init(name: "txt", local: echo.port, remote: ports[1], type: "websocket", settings: "path = \"/socket\"\nmessage = \"text\""),
        ])
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy bin: ")
        _ = try await client.line(containing: "proxy txt: ")
        let opened = try await server.process.line(containing: "proxy bin of client lab: listening on")
        #expect(opened.contains("(websocket, path /socket)"))

        for (port, kind, messages) in [(ports[0], "binary", "bytes"), (ports[1], "text", "str")] {
            let visitor = try PeerProcess("/usr/bin/python3", [Self.visitorScript, "ws://127.0.0.1:\(port)/socket", kind], mergeStandardError: true)
            #expect(await visitor.exitStatus() == 0, "\(visitor.lines)")
            let lines = visitor.lines
            #expect(lines.contains("binary ok \(messages)"), "\(kind): \(lines)")
            #expect(lines.contains("text ok \(messages)"), "\(kind): \(lines)")
            #expect(lines.contains("large ok 1048576 bytes"), "\(kind): \(lines)")
            #expect(lines.contains("ping ok pong"), "\(kind): \(lines)")
        }
        try await echo.channel.close()
    }

    /// What is not a WebSocket upgrade of the path is answered and logged, and the port goes on
    /// serving: a plain GET gets a one-line page, another path 404, a bad key 400.
    @Test func requestsThatAreNotAnUpgradeOfThePathAreAnsweredAndLogged() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(1)
        let server = try await harness.startServer(ports: ports)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [
            .init(name: "app", local: echo.port, remote: ports[0], type: "websocket", settings: "path = \"/socket\""),
        ])
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy app: ")

        let page = try PeerProcess("/usr/bin/curl", ["-sS", "-i", "--max-time", "10", "http://127.0.0.1:\(ports[0])/socket"], mergeStandardError: true)
        #expect(await page.exitStatus() == 0)
        #expect(page.lines.first?.hasPrefix("HTTP/1.1 200") == true, "\(page.lines)")
        #expect(page.lines.last == "This is a WebSocket endpoint: connect to ws://HOST:PORT/socket with a WebSocket client.")
        _ = try await server.process.line(containing: "proxy app of client lab: visitor 127.0.0.1:")

        let elsewhere = try PeerProcess("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--max-time", "10", "http://127.0.0.1:\(ports[0])/other"])
        #expect(await elsewhere.exitStatus() == 0)
        #expect(elsewhere.lines == ["404"])
        let logged = try await server.process.line(containing: "HTTP GET /other")
        #expect(logged.contains("answered 404, the WebSocket path is /socket"), "\(logged)")

        let badKey = try PeerProcess("/usr/bin/curl", [
            "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--max-time", "10", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
            "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: not-a-key", "http://127.0.0.1:\(ports[0])/socket",
        ])
        #expect(await badKey.exitStatus() == 0, "\(badKey.lines)")
        #expect(badKey.lines == ["400"])
        _ = try await server.process.line(containing: "HTTP GET /socket: invalid WebSocket upgrade request, answered 400")

        let visitor = try PeerProcess("/usr/bin/python3", [Self.visitorScript, "ws://127.0.0.1:\(ports[0])/socket", "binary"], mergeStandardError: true)
        #expect(await visitor.exitStatus() == 0, "\(visitor.lines)")
        #expect(visitor.lines.contains("ping ok pong"), "\(visitor.lines)")
        try await echo.channel.close()
    }

    /// Visitors that never finish their upgrade, announce a frame too large to take, or go
    /// quiet past the proxy's `idle_timeout` are each closed as RFC 6455 says, with a log line
    /// naming the visitor and the cause, while a well-behaved visitor is served after them.
    @Test func hostileAndIdleVisitorsAreClosedAndLoggedWhileOthersAreServed() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(2)
        let server = try await harness.startServer(ports: ports, handshakeTimeout: "1s")
        defer { server.process.terminate() }
        // The idle timeout on a proxy of its own: on a loaded machine a busy visitor can pause
        // for longer than a timeout short enough for a test.
        let client = try harness.startClient(serverPort: server.port, proxies: [
            .init(name: "app", local: echo.port, remote: ports[0], type: "websocket", settings: "path = \"/socket\""),
            .init(name: "quiet", local: echo.port, remote: ports[1], type: "websocket", settings: "path = \"/socket\"\nidle_timeout = \"2s\""),
        ])
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy app: ")
        _ = try await client.line(containing: "proxy quiet: ")
        let port = "\(ports[0])"

        let stall = try PeerProcess("/usr/bin/python3", [Self.hostileScript, "stall", port, "/socket"], mergeStandardError: true)
        #expect(await stall.exitStatus() == 0, "\(stall.lines)")
        #expect(stall.lines == ["closed after the upgrade timeout"])
        _ = try await server.process.line(containing: "no WebSocket upgrade within 1 s: closed")

        let oversize = try PeerProcess("/usr/bin/python3", [Self.hostileScript, "oversize", port, "/socket"], mergeStandardError: true)
        #expect(await oversize.exitStatus() == 0, "\(oversize.lines)")
        #expect(oversize.lines == ["close 1009"])
        let violation = try await server.process.line(containing: "sent a frame of 1099511627776 bytes")
        #expect(violation.contains("proxy app of client lab: visitor 127.0.0.1:"), "\(violation)")
        #expect(violation.contains("closed (1009)"), "\(violation)")

        let idle = try PeerProcess("/usr/bin/python3", [Self.hostileScript, "idle", "\(ports[1])", "/socket"], mergeStandardError: true)
        #expect(await idle.exitStatus() == 0, "\(idle.lines)")
        #expect(idle.lines == ["close 1001"])
        _ = try await server.process.line(containing: "no WebSocket frame either way for 2 s: closed (1001, going away)")

        let visitor = try PeerProcess("/usr/bin/python3", [Self.visitorScript, "ws://127.0.0.1:\(ports[0])/socket", "binary"], mergeStandardError: true)
        #expect(await visitor.exitStatus() == 0, "\(visitor.lines)")
        #expect(visitor.lines.contains("large ok 1048576 bytes"), "\(visitor.lines)")
        try await echo.channel.close()
    }

    /// An abort stays an abort: a service that resets its connection ends the WebSocket visitor
    /// without a close frame (the visitor sees 1006, abnormal closure), not with a clean 1000.
    @Test func aServiceResetEndsTheWebSocketVisitorWithoutACloseFrame() async throws {
        let harness = try await TunnelHarness()
        let service = try await ProbedService.start(sendThenReset: 4096)
        let ports = try await LoopbackPorts.free(1)
        let server = try await harness.startServer(ports: ports)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [
            .init(name: "app", local: service.port, remote: ports[0], type: "websocket"),
        ])
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy app: ")
        let visitor = try PeerProcess("/usr/bin/python3", [Self.hostileScript, "read", "\(ports[0])", "/"], mergeStandardError: true)
        #expect(await visitor.exitStatus() == 0, "\(visitor.lines)")
        #expect(visitor.lines == ["close 1006"])
    }

    /// A real browser as the visitor: headless Chromium loads a page that opens a WebSocket to
    /// a `websocket` proxy, sends a line and writes what comes back into the page; the test
    /// reads the page's DOM once the page marks itself done (`Peers/chromium_dom.py`).
    @Test func headlessChromiumTalksToATCPServiceThroughAWebSocketProxy() async throws {
        let harness = try await TunnelHarness()
        let echo = try await EchoService.start()
        let ports = try await LoopbackPorts.free(1)
        let server = try await harness.startServer(ports: ports)
        defer { server.process.terminate() }
        let client = try harness.startClient(serverPort: server.port, proxies: [
            .init(name: "app", local: echo.port, remote: ports[0], type: "websocket", settings: "path = \"/echo\"\nmessage = \"text\""),
        ])
        defer { client.terminate() }
        _ = try await client.line(containing: "proxy app: ")

        let sent = "hello from chromium, through burrow"
        // The echo may come back in several messages: the page is done once it is all there.
        let page = try harness.write("page.html", """
            <!doctype html>
            <html><body><p id="out">waiting</p>
            <script>
            const out = document.getElementById("out");
            const done = (text) => { out.textContent = text; document.body.dataset.done = ""; };
            const socket = new WebSocket("ws://127.0.0.1:\(ports[0])/echo");
            let received = "";
            socket.onopen = () => socket.send("\(sent)");
            socket.onmessage = (event) => {
              received += event.data;
              if (received.length >= \(sent.utf8.count)) done("echo (" + typeof event.data + "): " + received);
            };
            socket.onerror = () => done("WebSocket error");
            </script></body></html>
            """)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/chromium_dom.py").path
        let chromium = try PeerProcess("/usr/bin/python3", [script, "file://\(page)", "\(harness.directory.path)/chromium"], mergeStandardError: true)
        #expect(await chromium.exitStatus() == 0, "\(chromium.lines)")
        let dom = chromium.lines.joined(separator: "\n")
        #expect(dom.contains("<p id=\"out\">echo (string): \(sent)</p>"), "\(dom)")
        try await echo.channel.close()
    }
}
