import BurrowProtocol
import NIOCore
import Testing

@Suite struct PreambleTests {
    private func classify(_ bytes: [UInt8]) -> Preamble.Verdict {
        Preamble.classify(ByteBuffer(bytes: bytes).readableBytesView)
    }

    @Test func recognisesBurrowAndItsVersion() {
        #expect(self.classify(Preamble.bytes) == .burrow(version: Preamble.version))
        #expect(self.classify(Preamble.magic + [7]) == .burrow(version: 7))
        #expect(self.classify(Array(Preamble.bytes.prefix(3))) == .needMoreBytes)
    }

    @Test func recognisesStrangers() {
        #expect(self.classify(Array("GET / HTTP/1.1\r\n".utf8)) == .http)
        #expect(self.classify(Array("HTTP/1.1 404 Not Found\r\n".utf8)) == .http)
        #expect(self.classify([0x16, 0x03, 0x01, 0x02, 0x00]) == .tls)
        #expect(self.classify([0x15, 0x03, 0x03, 0x00, 0x02]) == .tls)  // an alert: a TLS server refusing
        #expect(self.classify(Preamble.refusal("no")) == .refusal)
        #expect(self.classify([0, 1, 2, 3, 4, 5, 6, 7]) == .unknown)
        #expect(self.classify(Array("GE".utf8)) == .needMoreBytes)
    }

    @Test func theHTTPRefusalIsAWellFormedResponse() throws {
        let text = String(decoding: Preamble.httpRefusal, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        #expect(parts.count == 2)
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(text.contains("Content-Length: \(parts[1].utf8.count)\r\n"))
    }
}
