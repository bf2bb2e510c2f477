import BurrowConfig
import Testing

@Suite struct ConfigTests {
    @Test func readsAServerConfigWithDefaults() throws {
        let config = try ServerConfig.parse("""
            bind = "0.0.0.0:7000"
            [[tokens]]
            name = "home"
            token_env = "HOME_TOKEN"
            ports = [6000, "6100-6110"]
            """, environment: ["HOME_TOKEN": "secret-from-env"])
        #expect(config.bind == Endpoint(host: "0.0.0.0", port: 7000))
        #expect(config.tokens.first?.token.value == "secret-from-env")
        #expect(config.tokens.first?.ports == PortSet([6000...6000, 6100...6110]))
        #expect(config.heartbeatInterval == .seconds(10))
        #expect(config.handshakeTimeout == .seconds(10))
        #expect("\(config.tokens[0].token)" == "<redacted>")
    }

    @Test func readsAClientConfig() throws {
        let config = try ClientConfig.parse("""
            server = "tcp://[::1]:7000"
            token = "long-enough"
            name = "lab"
            heartbeat_interval = "250ms"
            [reconnect]
            max_delay = 5
            [[proxies]]
            name = "ssh"
            local = "127.0.0.1:22"
            remote_port = 6000
            [[proxies]]
            name = "web"
            local = "localhost:8080"
            """, environment: [:])
        #expect(config.server.endpoint == Endpoint(host: "::1", port: 7000))
        #expect(config.heartbeatInterval == .milliseconds(250))
        #expect(config.reconnect.maximumDelay == .seconds(5))
        #expect(config.proxies.map(\.remotePort) == [6000, nil])
        #expect(config.proxies[1].local == Endpoint(host: "localhost", port: 8080))
    }

    @Test func wrongTypesAreNamedWithTheirKeyPath() {
        let found = configProblems("""
            server = "tcp://h:1"
            token = "long-enough"
            name = "lab"
            [[proxies]]
            name = "a"
            local = "127.0.0.1:1"
            [[proxies]]
            name = "b"
            local = "127.0.0.1:2"
            remote_port = "six"
            """, client: true)
        #expect(found == [#"proxies[1].remote_port: expected an integer port, got "six""#])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let found = configProblems("""
            bind = "nowhere"
            surprise = 1
            [[tokens]]
            name = "a"
            token = "short"
            ports = [70000, "9-3"]
            extra = true
            """, client: false)
        #expect(found == [
            #"bind: expected "host:port", got "nowhere""#,
            "tokens[0].token: a token must be at least 8 characters (make one with `burrow token`)",
            "tokens[0].ports[0]: expected a port (1-65535) or a range \"first-last\", got 70000",
            "tokens[0].ports[1]: expected a port (1-65535) or a range \"first-last\", got \"9-3\"",
            "tokens[0].extra: unknown key",
            "surprise: unknown key",
        ])
    }

    @Test func missingAndConflictingSecretsAreExplained() {
        let both = configProblems("""
            server = "tcp://h:1"
            token = "long-enough"
            token_env = "X"
            name = "lab"
            """, client: true)
        #expect(both == ["token: give either token or token_env, not both"])
        let unset = configProblems("""
            server = "tcp://h:1"
            token_env = "BURROW_TEST_UNSET"
            name = "lab"
            """, client: true)
        #expect(unset == ["token_env: environment variable BURROW_TEST_UNSET is not set"])
    }

    @Test func duplicatesAndUnsupportedValuesAreRefused() {
        let found = configProblems("""
            server = "quic://h:1"
            token = "long-enough"
            name = "lab"
            [[proxies]]
            name = "a"
            local = "127.0.0.1:1"
            remote_port = 6000
            [[proxies]]
            name = "a"
            local = "127.0.0.1:2"
            [[proxies]]
            name = "c"
            type = "carrier-pigeon"
            local = "127.0.0.1:3"
            remote_port = 6000
            """, client: true)
        #expect(found.contains("server: unsupported scheme \"quic://\" (this build supports tcp://, tls://, ws://, wss://)"))
        #expect(found.contains("proxies[1].name: proxy name \"a\" is used twice"))
        #expect(found.contains { $0.hasPrefix("proxies[2].type: unsupported proxy type \"carrier-pigeon\"") })
    }

    @Test func syntaxErrorsCarryTheirPosition() {
        #expect(throws: ConfigError(file: "server.toml", problems: [
            .init(path: "", message: "expected ']]' to close [[tokens, found end of line", position: .init(line: 2, column: 10)),
        ])) {
            try ServerConfig.parse("bind = \"0.0.0.0:7000\"\n[[tokens]\n", file: "server.toml", environment: [:])
        }
    }

    /// What `burrow check` prints: a compiler's `file:line:column:` before each problem (the
    /// line that defines the key, for problems found after the syntax), then the count.
    @Test func errorsReadLikeACompilersWithTheLineOfEachKey() {
        do {
            _ = try ServerConfig.parse("""
                # comment
                bind = "nowhere"
                [[tokens]]
                name = "a"
                token = "long-enough-token"
                ports = [6000, 70000]
                """, file: "server.toml", environment: [:])
            Issue.record("accepted")
        } catch {
            #expect("\(error)" == """
                server.toml:2:1: bind: expected "host:port", got "nowhere"
                server.toml:6:1: tokens[0].ports[1]: expected a port (1-65535) or a range "first-last", got 70000
                server.toml: 2 problems
                """)
        }
    }

    /// A file that is not UTF-8, or too big for a config, is refused with a reason, not read
    /// half-way.
    @Test func bytesThatAreNotAConfigAreRefusedWithAReason() {
        #expect(throws: ConfigError.self) { try ServerConfig.parse(bytes: [0x62, 0x3D, 0xFF], environment: [:]) }
        let big = [UInt8](repeating: UInt8(ascii: "#"), count: (1 << 20) + 1)
        do {
            _ = try AnyConfig.parse(bytes: big, file: "big.toml", environment: [:])
            Issue.record("accepted")
        } catch {
            #expect(error.problems.first?.message == "1048577 bytes is too large for a config file (at most 1048576)")
        }
    }

    /// Durations are checked as numbers before they become clock values: a value too large for
    /// the clock used to trap the loader (SIGILL) or pass `burrow check` and crash the server.
    @Test(arguments: [
        #"handshake_timeout = "1e16s""#, #"handshake_timeout = "1e300s""#, #"handshake_timeout = "1e308h""#,
        "handshake_timeout = 9223372037", #"heartbeat_interval = "25h""#, #"heartbeat_interval = "0.1ms""#,
        "heartbeat_interval = -5",
    ])
    func durationsOutOfRangeAreConfigErrors(_ line: String) {
        let key = String(line.split(separator: " ").first!)
        let server = "bind = \"0.0.0.0:7000\"\n\(line)\n[[tokens]]\nname = \"a\"\ntoken = \"long-enough-token\"\nports = [6000]"
        let problems = configProblems(server, client: false)
        #expect(problems.count == 1 && problems[0].hasPrefix("\(key): "), "\(problems)")
        #expect(problems.first?.hasSuffix("is out of range: a duration must be from 1ms to 24h") == true, "\(problems)")
        let client = "server = \"tcp://example.com:7000\"\ntoken = \"long-enough-token\"\nname = \"lab\"\n\(line)"
        #expect(configProblems(client, client: true).first?.hasPrefix("\(key): ") == true)
    }

    @Test func theLongestAndShortestDurationsAreAccepted() throws {
        let config = try ServerConfig.parse("""
            bind = "0.0.0.0:7000"
            handshake_timeout = "24h"
            heartbeat_interval = "1ms"
            max_pending_logins = 10
            max_pending_logins_per_address = 2
            [[tokens]]
            name = "a"
            token = "long-enough-token"
            ports = [6000]
            """, environment: [:])
        #expect(config.handshakeTimeout == .seconds(86_400))
        #expect(config.heartbeatInterval == .milliseconds(1))
        #expect(config.maxPendingLogins == 10)
        #expect(config.maxPendingLoginsPerAddress == 2)
    }

    @Test func pendingLoginCapsArePositiveIntegers() {
        let problems = configProblems("""
            bind = "0.0.0.0:7000"
            max_pending_logins = 0
            max_pending_logins_per_address = "many"
            [[tokens]]
            name = "a"
            token = "long-enough-token"
            ports = [6000]
            """, client: false)
        #expect(problems == [
            "max_pending_logins: 0 is out of range (1-1000000)",
            "max_pending_logins_per_address: expected an integer, got \"many\"",
        ])
    }

    @Test func udpProxiesReadTheirFlowSettingsAndOnlyThey() throws {
        let base = "server = \"tcp://h:1\"\ntoken = \"long-enough\"\nname = \"lab\"\n"
        let config = try ClientConfig.parse(base + """
            [[proxies]]
            name = "dns"
            type = "udp"
            local = "127.0.0.1:53"
            remote_port = 5353
            idle_timeout = "30s"
            max_flows = 100
            [[proxies]]
            name = "game"
            type = "udp"
            local = "127.0.0.1:27015"
            """, environment: [:])
        #expect(config.proxies[0].type == .udp)
        #expect(config.proxies[0].udp == UDPFlowSettings(idleTimeout: .seconds(30), maximumFlows: 100))
        #expect(config.proxies[1].udp == UDPFlowSettings())
        let found = configProblems(base + """
            [[proxies]]
            name = "web"
            local = "127.0.0.1:80"
            idle_timeout = 5
            [[proxies]]
            name = "dns"
            type = "udp"
            local = "127.0.0.1:53"
            max_flows = 0
            """, client: true)
        #expect(found == [
            "proxies[0].idle_timeout: applies to type = \"udp\" and \"websocket\" proxies only",
            "proxies[1].max_flows: 0 is out of range (1-1000000)",
        ])
        // One public port number, two protocols: two proxies. The same protocol twice clashes.
        let ports = "\n[[proxies]]\nname = \"a\"\nlocal = \"127.0.0.1:1\"\nremote_port = 6000"
            + "\n[[proxies]]\nname = \"b\"\ntype = \"udp\"\nlocal = \"127.0.0.1:2\"\nremote_port = 6000"
            + "\n[[proxies]]\nname = \"c\"\nlocal = \"127.0.0.1:3\"\nremote_port = 6000"
        #expect(configProblems(base + ports, client: true) == ["proxies[2].remote_port: tcp port 6000 is already used by another proxy"])
    }
}

