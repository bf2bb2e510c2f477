import BurrowConfig
import Testing

/// `ws://` and `wss://` servers, `[websocket]` on both sides.
@Suite struct WebSocketConfigTests {
    @Test(arguments: [
        ("ws://example.com/burrow", "example.com", 80, "/burrow"),
        ("wss://example.com", "example.com", 443, "/"),
        ("wss://example.com:8443/a/b?x=1", "example.com", 8443, "/a/b?x=1"),
        ("ws://[::1]:7080/t", "::1", 7080, "/t"),
        ("ws://[::1]/t", "::1", 80, "/t"),
    ])
    func webSocketURLsParseWithDefaultPorts(_ text: String, _ host: String, _ port: Int, _ path: String) throws {
        let address = try #require(ServerAddress(parsing: text))
        #expect(address.endpoint == Endpoint(host: host, port: port))
        #expect(address.path == path)
        #expect(address.scheme.isWebSocket)
    }

    @Test(arguments: [
        ("ws://example.com/b", "example.com"),
        ("wss://example.com:8443/b", "example.com:8443"),
        ("ws://[::1]/b", "[::1]"),
        ("wss://[::1]:8443/b", "[::1]:8443"),
    ])
    func theHostHeaderOmitsTheDefaultPortAndBracketsIPv6(_ text: String, _ host: String) throws {
        #expect(try #require(ServerAddress(parsing: text)).httpHost == host)
    }

    @Test(arguments: ["tcp://example.com:7000/path", "tls://example.com", "ws://", "ws://host:99999/x", "ftp://host:1"])
    func malformedURLsAreRefused(_ text: String) {
        #expect(ServerAddress(parsing: text) == nil)
    }

    @Test func aClientReadsExtraUpgradeHeaders() throws {
        let config = try ClientConfig.parse("""
            server = "wss://tunnel.example.com/burrow"
            token = "long-enough"
            name = "lab"
            [websocket]
            headers = { Host = "cdn-name.example.com", "X-Team" = "lab" }
            """, environment: [:])
        #expect(config.server.description == "wss://tunnel.example.com:443/burrow")
        #expect(config.webSocketHeaders == [.init(name: "Host", value: "cdn-name.example.com"), .init(name: "X-Team", value: "lab")])
    }

    @Test func clientMistakesAreNamedWithTheirKeyPath() throws {
        let problems = configProblems("""
            server = "tcp://example.com:7000"
            token = "long-enough"
            name = "lab"
            [websocket]
            headers = { Upgrade = "h2c", "Bad Name" = "x", Good = "a\\nb" }
            """, client: true)
        #expect(problems.contains("websocket.headers: Upgrade is set by the WebSocket upgrade itself"))
        #expect(problems.contains("websocket.headers: \"Bad Name\" is not a valid HTTP header name"))
        #expect(problems.contains("websocket.headers: the value of Good contains a line break"))
        #expect(problems.contains("websocket: applies to ws:// and wss:// servers only, but server is tcp://example.com:7000"))

        let path = configProblems("server = \"tls://example.com:443/x\"\ntoken = \"long-enough\"\nname = \"lab\"", client: true)
        #expect(path == ["server: expected \"tls://host:port (no path)\", got \"tls://example.com:443/x\""])
    }

    @Test func aServerReadsItsWebSocketListener() throws {
        let config = try ServerConfig.parse("""
            bind = "0.0.0.0:7000"
            [tls]
            cert = "server.crt"
            key = "server.key"
            [websocket]
            bind = "0.0.0.0:443"
            path = "/burrow"
            [[tokens]]
            name = "home"
            token = "long-enough"
            ports = [6000]
            """, environment: [:])
        #expect(config.webSocket == .init(bind: Endpoint(host: "0.0.0.0", port: 443), path: "/burrow", tls: true))

        // Behind a proxy that terminates TLS, the listener can stay plain.
        let plain = try ServerConfig.parse("""
            bind = "0.0.0.0:7000"
            [tls]
            cert = "server.crt"
            key = "server.key"
            [websocket]
            bind = "127.0.0.1:8080"
            tls = false
            [[tokens]]
            name = "home"
            token = "long-enough"
            ports = [6000]
            """, environment: [:])
        #expect(plain.webSocket == .init(bind: Endpoint(host: "127.0.0.1", port: 8080), path: "/", tls: false))
    }

    @Test func theWebSocketListenerNeedsAPortOfItsOwn() {
        let problems = configProblems("""
            bind = "0.0.0.0:7000"
            [websocket]
            bind = "0.0.0.0:7000"
            [[tokens]]
            name = "home"
            token = "long-enough"
            ports = [6000]
            """, client: false)
        #expect(problems == ["websocket.bind: 0.0.0.0:7000 is already the tunnel port (bind): give the WebSocket listener a port of its own"])
    }

    @Test func serverMistakesAreNamedWithTheirKeyPath() {
        let problems = configProblems("""
            bind = "0.0.0.0:7000"
            [websocket]
            path = "burrow"
            tls = true
            [[tokens]]
            name = "home"
            token = "long-enough"
            ports = [6000]
            """, client: false)
        #expect(problems == [
            "websocket.bind: missing (required)",
            "websocket.path: expected an absolute path such as \"/burrow\", got \"burrow\"",
            "websocket.tls: needs the [tls] table (cert and key)",
        ])
    }
}

/// A proxy whose local service speaks WebSocket: `local = "ws://..."` or `"wss://..."`.
@Suite struct WebSocketServiceConfigTests {
    static let head = """
        server = "tcp://tunnel.example.com:7000"
        token = "long-enough"
        name = "lab"
        [[proxies]]
        name = "chat"

        """

    @Test func aWebSocketLocalServiceIsReadWithItsHeadersAndTLS() throws {
        let config = try ClientConfig.parse(Self.head + """
            local = "wss://chat.lan:8443/socket"
            headers = { Origin = "https://chat.lan", "Sec-WebSocket-Protocol" = "chat" }
            tls = { ca = "lan-ca.pem", server_name = "chat.internal" }
            """, environment: [:])
        let proxy = try #require(config.proxies.first)
        #expect(proxy.local == Endpoint(host: "chat.lan", port: 8443))
        let service = try #require(proxy.webSocket)
        #expect(service.url.description == "wss://chat.lan:8443/socket")
        #expect(service.headers == [.init(name: "Origin", value: "https://chat.lan"), .init(name: "Sec-WebSocket-Protocol", value: "chat")])
        #expect(service.tls.certificateAuthority == "lan-ca.pem")
        #expect(service.tls.serverName == "chat.internal")
    }

    @Test func aWebSocketProxyReadsItsPathMessagesAndIdleTimeout() throws {
        let config = try ClientConfig.parse(Self.head + """
            type = "websocket"
            local = "127.0.0.1:5900"
            path = "/vnc"
            message = "text"
            idle_timeout = "5m"
            [[proxies]]
            name = "plain"
            type = "websocket"
            local = "127.0.0.1:5901"
            """, environment: [:])
        #expect(config.proxies[0].type == .websocket)
        #expect(config.proxies[0].webSocketVisitors == WebSocketVisitors(path: "/vnc", textMessages: true, idleTimeout: .seconds(300)))
        #expect(config.proxies[1].webSocketVisitors == WebSocketVisitors())
        #expect(config.proxies[1].webSocketVisitors.idleTimeout == nil)
    }

    @Test func aPlainLocalServiceHasNoWebSocket() throws {
        let config = try ClientConfig.parse(Self.head + "local = \"127.0.0.1:8080\"\n", environment: [:])
        #expect(config.proxies.first?.webSocket == nil)
    }

    @Test(arguments: [
        ("local = \"http://127.0.0.1:8080/\"", "proxies[0].local: expected \"host:port\", \"ws://host[:port]/path\" or \"wss://host[:port]/path\", got \"http://127.0.0.1:8080/\""),
        ("type = \"udp\"\nlocal = \"ws://127.0.0.1:8080/\"", "proxies[0].local: a WebSocket service carries a byte stream: it needs type = \"tcp\" or \"websocket\", not \"udp\""),
        ("type = \"websocket\"\nlocal = \"127.0.0.1:1\"\npath = \"vnc\"", "proxies[0].path: expected a path such as \"/socket\" (starting with /, no spaces, at most 1,024 bytes), got \"vnc\""),
        ("type = \"websocket\"\nlocal = \"127.0.0.1:1\"\nmessage = \"json\"", "proxies[0].message: expected \"binary\" or \"text\", got \"json\""),
        ("type = \"websocket\"\nlocal = \"127.0.0.1:1\"\nmax_flows = 3", "proxies[0].max_flows: applies to type = \"udp\" proxies only"),
        ("local = \"127.0.0.1:1\"\npath = \"/x\"", "proxies[0].path: applies to type = \"websocket\" proxies only"),
        ("local = \"127.0.0.1:8080\"\nheaders = { Origin = \"x\" }", "proxies[0].headers: applies to ws:// and wss:// local services only"),
        ("local = \"ws://127.0.0.1:8080/\"\ntls = { ca = \"ca.pem\" }", "proxies[0].tls: applies to wss:// local services only, but local service is ws://127.0.0.1:8080/"),
        ("local = \"ws://127.0.0.1:8080/\"\nheaders = { Upgrade = \"h2c\" }", "proxies[0].headers: Upgrade is set by the WebSocket upgrade itself"),
    ])
    func mistakesAreNamedWithTheirKey(_ lines: String, _ problem: String) {
        let problems = configProblems(Self.head + lines + "\n", client: true)
        #expect(problems.contains { $0.hasSuffix(problem) }, "\(problems)")
    }
}
