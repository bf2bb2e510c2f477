import BurrowConfig
import Testing

@Suite struct TLSConfigTests {
    @Test func readsTheServerCertificateAndKey() throws {
        let server = try ServerConfig.parse("""
            bind = "0.0.0.0:7443"
            [tls]
            cert = "server.crt"
            key = "server.key"
            [[tokens]]
            name = "a"
            token = "long-enough"
            ports = [1]
            """, environment: [:])
        #expect(server.tls == ServerConfig.TLS(certificate: "server.crt", key: "server.key"))
    }

    @Test func readsAPinnedFingerprintInEitherSpelling() throws {
        let colons = String(repeating: "AB:", count: 31) + "AB"
        let client = try ClientConfig.parse("""
            server = "tls://tunnel.example.com:7443"
            token = "long-enough"
            name = "lab"
            [tls]
            fingerprint = "sha256:\(colons)"
            server_name = "tunnel.example.com"
            """, environment: [:])
        #expect(client.server.scheme == .tls)
        #expect(client.tls.fingerprint == String(repeating: "ab", count: 32))
        #expect(client.tls.serverName == "tunnel.example.com")
    }

    @Test func rejectsBadPinsBothTrustsAndTLSOnAPlainServer() {
        do {
            _ = try ClientConfig.parse("""
                server = "tcp://h:1"
                token = "long-enough"
                name = "lab"
                [tls]
                ca = "ca.pem"
                fingerprint = "sha256:1234"
                """, environment: [:])
            Issue.record("accepted a broken [tls] table")
        } catch {
            let found = error.problems.map(\.description)
            #expect(found.contains { $0.hasPrefix("tls.fingerprint: expected \"sha256:\" and 64 hex digits") })
            #expect(found.contains("tls: applies to tls:// and wss:// servers only, but server is tcp://h:1"))
        }
    }
}
