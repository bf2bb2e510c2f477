import BurrowConfig
import Crypto
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// TLS for the tunnel port: the server's context, the client's verification, and the words a
/// user needs when verification fails (what was expected, what the server presented).
enum TLSSetup {
    /// The server's TLS context from `[tls]`; errors name the file.
    static func serverContext(_ tls: ServerConfig.TLS) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(tls.certificate)
        } catch {
            throw TLSFailure(description: "cannot load [tls] cert \(tls.certificate): \(error)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
        } catch {
            throw TLSFailure(description: "cannot load [tls] key \(tls.key): \(error)")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)
        )
        return try NIOSSLContext(configuration: configuration)
    }

    /// `sha256:` and the lowercase hex SHA-256 of a certificate's DER bytes.
    static func fingerprint(of certificate: NIOSSLCertificate) -> String {
        let der = (try? certificate.toDERBytes()) ?? []
        return "sha256:" + SHA256.hash(data: der).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The name a client verifies and sends as SNI: `server_name`, else the URL's host (an IP
    /// address is verified but never sent as SNI).
    static func serverName(_ configuration: ClientConfig) -> String {
        configuration.tls.serverName ?? configuration.server.endpoint.host
    }

    /// The client's TLS handler. With a pinned fingerprint, verification is exactly that
    /// comparison; otherwise NIOSSL verifies the chain against the CA file (or the system
    /// store) and the name. `seen` records the leaf fingerprint the server presented.
    static func clientHandler(_ configuration: ClientConfig, seen: NIOLockedValueBox<String?>) throws -> NIOSSLClientHandler {
        let name = Self.serverName(configuration)
        let sni = (try? SocketAddress(ipAddress: name, port: 0)) == nil ? name : nil
        var tls = TLSConfiguration.makeClientConfiguration()
        if let pinned = configuration.tls.fingerprint {
            // The callback's verdict is enforced only in a verifying mode (with .none BoringSSL
            // ignores it); the callback replaces chain and name checks entirely.
            tls.certificateVerification = .noHostnameVerification
            let context = try NIOSSLContext(configuration: tls)
            return try NIOSSLClientHandler(context: context, serverHostname: sni) {
                (certificates: [NIOSSLCertificate], promise: EventLoopPromise<NIOSSLVerificationResult>) in
                let presented = certificates.first.map(Self.fingerprint(of:))
                seen.withLockedValue { $0 = presented }
                promise.succeed(presented == "sha256:" + pinned ? NIOSSLVerificationResult.certificateVerified : NIOSSLVerificationResult.failed)
            }
        }
        if let ca = configuration.tls.certificateAuthority { tls.trustRoots = .file(ca) }
        tls.certificateVerification = .fullVerification
        let context = try NIOSSLContext(configuration: tls)
        return try NIOSSLClientHandler(context: context, serverHostname: sni)
    }

    /// Connects once more without verifying, only to learn which certificate the server
    /// presents (its fingerprint), so a refusal can say what was seen. Nil when the server does
    /// not speak TLS at all.
    static func inspect(_ configuration: ClientConfig, group: EventLoopGroup) async -> String? {
        let seen = NIOLockedValueBox<String?>(nil)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .noHostnameVerification  // so the failing verdict ends the handshake at once
        let name = Self.serverName(configuration)
        let sni = (try? SocketAddress(ipAddress: name, port: 0)) == nil ? name : nil
        guard let context = try? NIOSSLContext(configuration: tls) else { return nil }
        let done = group.any().makePromise(of: Void.self)
        let channel = try? await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: sni) {
                        (certificates: [NIOSSLCertificate], promise: EventLoopPromise<NIOSSLVerificationResult>) in
                        seen.withLockedValue { $0 = certificates.first.map(Self.fingerprint(of:)) }
                        promise.succeed(NIOSSLVerificationResult.failed)  // seeing it is all we wanted
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(configuration.server.endpoint).get()
        if let channel {
            channel.closeFuture.whenComplete { _ in done.succeed(()) }
            channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
            try? await done.futureResult.get()
        }
        return seen.withLockedValue { $0 }
    }

    /// Why a TLS handshake failed, in a user's words.
    static func explainHandshakeFailure(_ error: Error, configuration: ClientConfig, seen: String?, inspected: String?) -> String {
        let name = Self.serverName(configuration)
        if let pinned = configuration.tls.fingerprint, let seen {
            return "TLS: the server presented certificate \(seen), expected the pinned sha256:\(pinned)"
        }
        guard let presented = inspected ?? seen else {
            let plain = configuration.server.scheme.isWebSocket ? "ws://" : "tcp://"
            return "TLS handshake failed (\(ErrorText.explain(error))): the server does not speak TLS here (use \(plain) for a server without TLS)"
        }
        let trust = configuration.tls.certificateAuthority.map { "the CA in \($0)" } ?? "the system trust store"
        return "TLS: the server's certificate is not valid for \"\(name)\" under \(trust) (\(ErrorText.explain(error))); "
            + "it presented \(presented); to trust exactly that certificate, set [tls] fingerprint = \"\(presented)\""
    }
}

/// A TLS set-up or verification failure, in words.
struct TLSFailure: Error, CustomStringConvertible {
    let description: String
}

/// Certificate helpers for the command line.
public enum Certificates {
    /// The fingerprint of the first certificate in a PEM file, as a client's `fingerprint` takes it.
    public static func fingerprint(ofPEMFile path: String) throws -> String {
        guard let first = try NIOSSLCertificate.fromPEMFile(path).first else {
            throw TLSFailure(description: "\(path) holds no certificate")
        }
        return TLSSetup.fingerprint(of: first)
    }
}
