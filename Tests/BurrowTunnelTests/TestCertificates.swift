import BurrowTestSupport
import Foundation

/// Certificates made by the test itself with openssl (never committed keys): a CA, a server
/// certificate for "localhost" signed by it, and an unrelated CA.
struct TestCertificates {
    let caCertificate: String
    let otherCACertificate: String
    let serverCertificate: String
    let serverKey: String

    static func make(in directory: URL) async throws -> TestCertificates {
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let extensions = path("server.ext")
        try "subjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=Burrow Test CA", "-keyout", path("ca.key"), "-out", path("ca.crt")],
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=Some Other CA", "-keyout", path("other.key"), "-out", path("other.crt")],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/CN=localhost", "-keyout", path("server.key"), "-out", path("server.csr")],
            ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial",
             "-days", "2", "-extfile", extensions, "-out", path("server.crt")],
        ]
        for arguments in steps {
            let openssl = try PeerProcess("/usr/bin/openssl", arguments, mergeStandardError: true)
            let status = await openssl.exitStatus()
            guard status == 0 else {
                throw PeerProcess.Failure(description: "openssl \(arguments.joined(separator: " ")) failed: \(openssl.lines.joined(separator: "\n"))")
            }
        }
        return TestCertificates(
            caCertificate: path("ca.crt"), otherCACertificate: path("other.crt"),
            serverCertificate: path("server.crt"), serverKey: path("server.key")
        )
    }
}
