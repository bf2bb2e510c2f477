import BurrowTestSupport
import Foundation
import NIOCore
import Testing

/// TLS verification failures (over tls:// and wss:// alike) and transport mismatches, each with
/// the message a user needs. (Integrity, half-close and reconnect run in `TunnelTests`, once per
/// transport.)
@Suite struct TLSTests {
    /// A TLS server with one proxy to an echo service, and the fingerprint of its certificate.
    struct Setup {
        let harness: TunnelHarness
        let server: TunnelHarness.Server
        let echo: EchoService
        let publicPorts: [Int]
        let fingerprint: String
        var certificates: TestCertificates { self.harness.certificates! }

        static func start(_ transport: TunnelHarness.Transport = .tls) async throws -> Setup {
            let harness = try await TunnelHarness(transport: transport)
            let echo = try await EchoService.start()
            let publicPorts = try await TunnelHarness.freePorts(4)
            let server = try await harness.startServer(ports: publicPorts)
            let printer = try PeerProcess(TunnelHarness.binary, ["fingerprint", harness.certificates!.serverCertificate])
            let fingerprint = try await printer.line(startingWith: "sha256:")
            return Setup(harness: harness, server: server, echo: echo, publicPorts: publicPorts, fingerprint: fingerprint)
        }

        func client(tls: String) throws -> PeerProcess {
            try self.harness.startClient(serverPort: self.server.port, proxies: [.init(name: "echo", local: self.echo.port)], tls: tls)
        }

        func stop() async throws {
            self.server.process.terminate()
            try await self.echo.channel.close()
        }
    }

    @Test func theFingerprintCommandAgreesWithOpenSSL() async throws {
        let setup = try await Setup.start()
        let openssl = try PeerProcess("/usr/bin/openssl", ["x509", "-noout", "-fingerprint", "-sha256", "-in", setup.certificates.serverCertificate])
        let line = try await openssl.line(containing: "Fingerprint=")
        let hex = line.split(separator: "=").last!.replacingOccurrences(of: ":", with: "").lowercased()
        #expect(setup.fingerprint == "sha256:" + hex)
        try await setup.stop()
    }

    @Test(arguments: [TunnelHarness.Transport.tls, .wss])
    func aServerCertificateFromAnotherCAIsRefusedSayingWhatWasSeen(_ transport: TunnelHarness.Transport) async throws {
        let setup = try await Setup.start(transport)
        let client = try setup.client(tls: "[tls]\nca = \"\(setup.certificates.otherCACertificate)\"")
        defer { client.terminate() }
        let line = try await client.line(containing: "next attempt in")
        #expect(line.contains("not valid for \"localhost\" under the CA in \(setup.certificates.otherCACertificate)"))
        #expect(line.contains("it presented \(setup.fingerprint)"))
        // It keeps trying, with backoff.
        _ = try await client.line(containing: "attempt 2 to reach")
        try await setup.stop()
    }

    @Test(arguments: [TunnelHarness.Transport.tls, .wss])
    func aCertificateForAnotherNameIsRefused(_ transport: TunnelHarness.Transport) async throws {
        let setup = try await Setup.start(transport)
        let client = try setup.client(tls: "[tls]\nca = \"\(setup.certificates.caCertificate)\"\nserver_name = \"wrong.example\"")
        defer { client.terminate() }
        let line = try await client.line(containing: "next attempt in")
        #expect(line.contains("not valid for \"wrong.example\""))
        #expect(line.contains("it presented \(setup.fingerprint)"))
        try await setup.stop()
    }

    @Test(arguments: [TunnelHarness.Transport.tls, .wss])
    func aWrongPinIsRefusedAndTheRightPinTrustsASelfSignedServer(_ transport: TunnelHarness.Transport) async throws {
        let setup = try await Setup.start(transport)
        let wrongPin = "sha256:" + String(repeating: "0", count: 64)
        let wrong = try setup.client(tls: "[tls]\nfingerprint = \"\(wrongPin)\"")
        defer { wrong.terminate() }
        let line = try await wrong.line(containing: "next attempt in")
        #expect(line.contains("presented certificate \(setup.fingerprint), expected the pinned \(wrongPin)"))
        wrong.terminate()

        // Pinning needs no CA: the fingerprint is the trust.
        let pinned = try setup.client(tls: "[tls]\nfingerprint = \"\(setup.fingerprint)\"")
        defer { pinned.terminate() }
        let publicPort = try await pinned.publishedPort()
        let payload = TestBytes.buffer(seed: 11, count: 256 * 1024)
        #expect(try await Visitor.exchange(port: publicPort, sending: payload) == payload)
        try await setup.stop()
    }

    @Test func plainAndTLSMismatchesAreNamedOnBothSides() async throws {
        let setup = try await Setup.start()
        // A plain client on the TLS port.
        let plainHarness = try await TunnelHarness()
        let plain = try plainHarness.startClient(serverPort: setup.server.port, proxies: [.init(name: "echo", local: setup.echo.port)])
        defer { plain.terminate() }
        let plainLine = try await plain.line(containing: "next attempt in")
        #expect(plainLine.contains("server answered with TLS: use tls://"))
        _ = try await setup.server.process.line(containing: "a plain tcp:// client on a TLS port?")
        plain.terminate()

        // A TLS client on a plain port.
        let plainServer = try await plainHarness.startServer(ports: setup.publicPorts)
        defer { plainServer.process.terminate() }
        let tlsClient = try setup.harness.startClient(serverPort: plainServer.port, proxies: [.init(name: "echo", local: setup.echo.port)])
        defer { tlsClient.terminate() }
        let tlsLine = try await tlsClient.line(containing: "next attempt in")
        #expect(tlsLine.contains("does not speak TLS here"))
        _ = try await plainServer.process.line(containing: "TLS handshake from 127.0.0.1:")
        try await setup.stop()
    }
}
