import ArgumentParser
import BurrowTransport

struct FingerprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fingerprint",
        abstract: "Print the SHA-256 fingerprint of a PEM certificate, for a client's [tls] fingerprint (pinning a self-signed server)."
    )

    @Argument(help: "A PEM certificate file (the server's [tls] cert).")
    var file: String

    func run() throws {
        do {
            print(try CertificateFingerprint.ofPEMFile(self.file))
        } catch {
            throw ValidationError("cannot read a certificate from \(self.file): \(error)")
        }
    }
}
