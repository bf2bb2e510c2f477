/// The running configuration written back as TOML, for the admin API's `GET /now`: every key
/// the file could set, with the value in force, and secrets as `"<redacted>"`. Reading the
/// result with `burrow check` gives the same configuration, secrets aside.
extension ServerConfig {
    public var redactedTOML: String {
        var lines = ["bind = \(TOMLText.quoted(self.bind.description))"]
        if let host = self.proxyBindHost { lines.append("proxy_bind_address = \(TOMLText.quoted(host))") }
        lines += [
            "handshake_timeout = \(TOMLText.duration(self.handshakeTimeout))",
            "heartbeat_interval = \(TOMLText.duration(self.heartbeatInterval))",
            "max_pending_logins = \(self.maxPendingLogins)",
            "max_pending_logins_per_address = \(self.maxPendingLoginsPerAddress)",
        ]
        if let tls = self.tls {
            lines += ["", "[tls]", "cert = \(TOMLText.quoted(tls.certificate))", "key = \(TOMLText.quoted(tls.key))"]
        }
        if let webSocket = self.webSocket {
            lines += ["", "[websocket]", "bind = \(TOMLText.quoted(webSocket.bind.description))", "path = \(TOMLText.quoted(webSocket.path))",
                      "tls = \(webSocket.tls)"]
        }
        lines += TOMLText.admin(self.admin)
        for rule in self.tokens {
            let ports = rule.ports.ranges.map { $0.count == 1 ? "\($0.lowerBound)" : TOMLText.quoted("\($0.lowerBound)-\($0.upperBound)") }
            lines += ["", "[[tokens]]", "name = \(TOMLText.quoted(rule.name))", "token = \(TOMLText.redacted)",
                      "ports = [\(ports.joined(separator: ", "))]"]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension ClientConfig {
    public var redactedTOML: String {
        var lines = [
            "server = \(TOMLText.quoted(self.server.description))",
            "token = \(TOMLText.redacted)",
            "name = \(TOMLText.quoted(self.name))",
            "heartbeat_interval = \(TOMLText.duration(self.heartbeatInterval))",
            "handshake_timeout = \(TOMLText.duration(self.handshakeTimeout))",
            "local_connect_timeout = \(TOMLText.duration(self.localConnectTimeout))",
        ]
        lines += TOMLText.tls(self.tls).map { ["", "[tls]"] + $0 } ?? []
        if !self.webSocketHeaders.isEmpty {
            lines += ["", "[websocket]", "headers = \(TOMLText.headers(self.webSocketHeaders))"]
        }
        lines += [
            "", "[reconnect]",
            "initial_delay = \(TOMLText.duration(self.reconnect.initialDelay))",
            "max_delay = \(TOMLText.duration(self.reconnect.maximumDelay))",
            "reset_after = \(TOMLText.duration(self.reconnect.resetAfter))",
            "retry_on_auth_failure = \(self.reconnect.retryOnAuthenticationFailure)",
        ]
        lines += TOMLText.admin(self.admin)
        for proxy in self.proxies {
            lines += ["", "[[proxies]]", "name = \(TOMLText.quoted(proxy.name))", "type = \(TOMLText.quoted(proxy.type.rawValue))"]
            if let service = proxy.webSocket {
                lines.append("local = \(TOMLText.quoted(service.url.description))")
                if !service.headers.isEmpty { lines.append("headers = \(TOMLText.headers(service.headers))") }
                if let tls = TOMLText.tls(service.tls) { lines.append("tls = { \(tls.joined(separator: ", ")) }") }
            } else {
                lines.append("local = \(TOMLText.quoted(proxy.local.description))")
            }
            if let port = proxy.remotePort { lines.append("remote_port = \(port)") }
            switch proxy.type {
            case .tcp:
                break
            case .udp:
                lines += ["idle_timeout = \(TOMLText.duration(proxy.udp.idleTimeout))", "max_flows = \(proxy.udp.maximumFlows)"]
            case .websocket:
                lines += ["path = \(TOMLText.quoted(proxy.webSocketVisitors.path))",
                          "message = \(TOMLText.quoted(proxy.webSocketVisitors.textMessages ? "text" : "binary"))"]
                if let idle = proxy.webSocketVisitors.idleTimeout { lines.append("idle_timeout = \(TOMLText.duration(idle))") }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// TOML spellings of config values.
enum TOMLText {
    static let redacted = "\"<redacted>\""

    /// A basic string, escaped as TOML 1.0 requires.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// "250ms", "10s": what the config reader takes back.
    static func duration(_ duration: Duration) -> String {
        let milliseconds = duration.milliseconds
        return quoted(milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms")
    }

    static func headers(_ headers: [ClientConfig.WebSocketHeader]) -> String {
        "{ " + headers.map { "\(quoted($0.name)) = \(quoted($0.value))" }.joined(separator: ", ") + " }"
    }

    /// The keys of a TLS trust that is not the default (nil when it is).
    static func tls(_ tls: ClientConfig.TLS) -> [String]? {
        var keys: [String] = []
        if let ca = tls.certificateAuthority { keys.append("ca = \(quoted(ca))") }
        if let pin = tls.fingerprint { keys.append("fingerprint = \(quoted("sha256:" + pin))") }
        if let name = tls.serverName { keys.append("server_name = \(quoted(name))") }
        return keys.isEmpty ? nil : keys
    }

    static func admin(_ admin: AdminSettings?) -> [String] {
        guard let admin else { return [] }
        return ["", "[admin]", "bind = \(quoted(admin.bind.description))"] + (admin.token == nil ? [] : ["token = \(redacted)"])
    }
}

/// TOML as plain JSON (the admin API's `?format=json`): strings, numbers, booleans, arrays and
/// objects in the file's key order; dates and times as their TOML text.
extension TOMLValue: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .float(let value): try container.encode(value)
        case .boolean(let value): try container.encode(value)
        case .dateTime(let value): try container.encode("\(value)")
        case .array(let values): try container.encode(values)
        case .table(let table): try container.encode(table)
        }
    }
}

extension TOMLTable: Encodable {
    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for key in self.keys {
            if let value = self[key] { try container.encode(value, forKey: Key(stringValue: key)) }
        }
    }
}
