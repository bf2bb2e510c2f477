import Crypto
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A server's TLS identity: its certificate chain and key, loaded once at start.
public struct TLSServerIdentity: Sendable {
    /// Shared by every copy, so a reload reaches the listeners that hold one: connections
    /// accepted after `reload` use the new certificate, those already up keep theirs.
    private let current: NIOLockedValueBox<NIOSSLContext>

    /// The context a new connection's handshake uses.
    var context: NIOSSLContext { self.current.withLockedValue { $0 } }

    /// Loads PEM files; an error names the file that failed.
    public init(certificateFile: String, keyFile: String) throws {
        self.current = NIOLockedValueBox(try Self.load(certificateFile: certificateFile, keyFile: keyFile))
    }

    /// Reads the files again (a renewed certificate, or new paths). All or nothing: when a
    /// file cannot be loaded, the error names it and the certificate in use stays.
    public func reload(certificateFile: String, keyFile: String) throws {
        let context = try Self.load(certificateFile: certificateFile, keyFile: keyFile)
        self.current.withLockedValue { $0 = context }
    }

    /// Whether the files load, without using them (what a reload would find).
    public static func check(certificateFile: String, keyFile: String) throws {
        _ = try Self.load(certificateFile: certificateFile, keyFile: keyFile)
    }

    private static func load(certificateFile: String, keyFile: String) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw BurrowError(.tlsSetup, "cannot load [tls] cert \(certificateFile): \(error)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw BurrowError(.tlsSetup, "cannot load [tls] key \(keyFile): \(error)")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)
        )
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Whom a client trusts: a pinned certificate fingerprint, or a chain valid for `serverName`
/// under a CA file or the system store.
public struct TLSClientTrust: Sendable {
    /// The name verified, and sent as SNI unless it is an IP address.
    public var serverName: String
    public var certificateAuthorityFile: String?
    /// Lower-case hex SHA-256 of the server certificate's DER bytes, without "sha256:".
    public var pinnedFingerprint: String?

    public init(serverName: String, certificateAuthorityFile: String? = nil, pinnedFingerprint: String? = nil) {
        self.serverName = serverName
        self.certificateAuthorityFile = certificateAuthorityFile
        self.pinnedFingerprint = pinnedFingerprint
    }

    private var sni: String? {
        (try? SocketAddress(ipAddress: self.serverName, port: 0)) == nil ? self.serverName : nil
    }

    /// The client's TLS handler. With a pinned fingerprint, verification is exactly that
    /// comparison; otherwise NIOSSL verifies the chain and the name. `seen` records the leaf
    /// fingerprint the server presented.
    func handler(seen: NIOLockedValueBox<String?>) throws -> NIOSSLClientHandler {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let pinned = self.pinnedFingerprint {
            // The callback's verdict is enforced only in a verifying mode (with .none BoringSSL
            // ignores it); the callback replaces chain and name checks entirely.
            tls.certificateVerification = .noHostnameVerification
            return try NIOSSLClientHandler(context: try NIOSSLContext(configuration: tls), serverHostname: self.sni) {
                (certificates: [NIOSSLCertificate], promise: EventLoopPromise<NIOSSLVerificationResult>) in
                let presented = certificates.first.map(CertificateFingerprint.of)
                seen.withLockedValue { $0 = presented }
                promise.succeed(presented == "sha256:" + pinned ? NIOSSLVerificationResult.certificateVerified : NIOSSLVerificationResult.failed)
            }
        }
        if let ca = self.certificateAuthorityFile { tls.trustRoots = .file(ca) }
        tls.certificateVerification = .fullVerification
        return try NIOSSLClientHandler(context: try NIOSSLContext(configuration: tls), serverHostname: self.sni)
    }

    /// Connects once more without verifying, only to learn which certificate the server
    /// presents, so a refusal can say what was seen. Nil when the server does not speak TLS.
    func inspect(host: String, port: Int, group: EventLoopGroup) async -> String? {
        let seen = NIOLockedValueBox<String?>(nil)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .noHostnameVerification  // so the failing verdict ends the handshake at once
        guard let context = try? NIOSSLContext(configuration: tls) else { return nil }
        let sni = self.sni
        let done = group.any().makePromise(of: Void.self)
        let channel = try? await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: sni) {
                        (certificates: [NIOSSLCertificate], promise: EventLoopPromise<NIOSSLVerificationResult>) in
                        seen.withLockedValue { $0 = certificates.first.map(CertificateFingerprint.of) }
                        promise.succeed(NIOSSLVerificationResult.failed)  // seeing it is all we wanted
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port).get()
        if let channel {
            channel.closeFuture.whenComplete { _ in done.succeed(()) }
            channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
            try? await done.futureResult.get()
        }
        return seen.withLockedValue { $0 }
    }

    /// Why a TLS handshake failed, in a user's words: what was expected, what was presented,
    /// and the line of config that would trust it. `plainScheme` names what to use instead
    /// when the server does not speak TLS at all.
    func explain(_ error: Error, seen: String?, inspected: String?, plainScheme: String) -> BurrowError {
        if let pinned = self.pinnedFingerprint, let seen {
            return BurrowError(.tlsHandshake, "TLS: the server presented certificate \(seen), expected the pinned sha256:\(pinned)")
        }
        guard let presented = inspected ?? seen else {
            return BurrowError(.tlsHandshake,
                "TLS handshake failed (\(ErrorText.explain(error))): the server does not speak TLS here (use \(plainScheme) for a server without TLS)")
        }
        let trust = self.certificateAuthorityFile.map { "the CA in \($0)" } ?? "the system trust store"
        return BurrowError(.tlsHandshake,
            "TLS: the server's certificate is not valid for \"\(self.serverName)\" under \(trust) (\(ErrorText.explain(error))); "
            + "it presented \(presented); to trust exactly that certificate, set [tls] fingerprint = \"\(presented)\"")
    }
}

/// Certificate fingerprints as a client pins them: `sha256:` and lower-case hex.
public enum CertificateFingerprint {
    static func of(_ certificate: NIOSSLCertificate) -> String {
        let der = (try? certificate.toDERBytes()) ?? []
        return "sha256:" + SHA256.hash(data: der).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The fingerprint of the first certificate in a PEM file.
    public static func ofPEMFile(_ path: String) throws -> String {
        guard let first = try NIOSSLCertificate.fromPEMFile(path).first else {
            throw BurrowError(.tlsSetup, "\(path) holds no certificate")
        }
        return Self.of(first)
    }
}

/// Turns a TLS failure on a server's connection into a `BurrowError`, so that what reads the
/// byte stream learns of it without knowing NIOSSL.
final class TLSErrorNaming: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is NIOSSLError || error is BoringSSLError {
            context.fireErrorCaught(BurrowError(.tlsHandshake, "\(error)"))
        } else {
            context.fireErrorCaught(error)
        }
    }
}
