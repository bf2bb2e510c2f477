import BurrowProtocol
import Foundation
import Testing

@Suite struct LoginProofTests {
    private let token = "a-long-random-token"
    private let serverNonce = LoginProof.makeNonce()
    private let clientNonce = LoginProof.makeNonce()

    @Test func theRightTokenProvesItselfAndAWrongOneDoesNot() {
        let proof = LoginProof.clientProof(token: self.token, serverNonce: self.serverNonce, clientNonce: self.clientNonce, name: "lab")
        let same = LoginProof.clientProof(token: self.token, serverNonce: self.serverNonce, clientNonce: self.clientNonce, name: "lab")
        let other = LoginProof.clientProof(token: "another-token", serverNonce: self.serverNonce, clientNonce: self.clientNonce, name: "lab")
        #expect(LoginProof.matches(proof, expected: same))
        #expect(!LoginProof.matches(proof, expected: other))
    }

    @Test func theProofIsBoundToNoncesNameAndRole() {
        let proof = LoginProof.clientProof(token: self.token, serverNonce: self.serverNonce, clientNonce: self.clientNonce, name: "lab")
        let anotherNonce = LoginProof.makeNonce()
        #expect(!LoginProof.matches(proof, expected: LoginProof.clientProof(token: self.token, serverNonce: anotherNonce, clientNonce: self.clientNonce, name: "lab")))
        #expect(!LoginProof.matches(proof, expected: LoginProof.clientProof(token: self.token, serverNonce: self.serverNonce, clientNonce: anotherNonce, name: "lab")))
        #expect(!LoginProof.matches(proof, expected: LoginProof.clientProof(token: self.token, serverNonce: self.serverNonce, clientNonce: self.clientNonce, name: "lab2")))
        #expect(!LoginProof.matches(proof, expected: LoginProof.serverProof(token: self.token, serverNonce: self.serverNonce, clientNonce: self.clientNonce, name: "lab")))
        #expect(!LoginProof.matches(proof, expected: Array(proof.prefix(16))))
    }

    @Test func nonceAndProofHaveTheDocumentedSizes() {
        #expect(self.serverNonce.count == 32)
        #expect(Base64.encode(self.serverNonce).count == 44)
        #expect(LoginProof.clientProof(token: self.token, serverNonce: self.serverNonce, clientNonce: self.clientNonce, name: "lab").count == 32)
    }

    /// docs/protocol.md's test vectors, read from the document itself so that it cannot drift
    /// from the code.
    @Test func theDocumentsTestVectorsHold() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/protocol.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let block = try #require(text.components(separatedBy: "#### Test vectors").dropFirst().first?
            .components(separatedBy: "```").dropFirst().first)
        var vectors: [String: String] = [:]
        for line in block.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            vectors[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let token = try #require(vectors["token"])
        let name = try #require(vectors["name"])
        let serverNonce = try #require(Self.bytes(hex: vectors["serverNonce (hex)"]))
        let clientNonce = try #require(Self.bytes(hex: vectors["clientNonce (hex)"]))
        #expect(Base64.encode(serverNonce) == vectors["serverNonce (b64)"])
        #expect(Base64.encode(clientNonce) == vectors["clientNonce (b64)"])
        #expect(LoginProof.tokenHint(token) == vectors["tokenHint"])
        let proof = LoginProof.clientProof(token: token, serverNonce: serverNonce, clientNonce: clientNonce, name: name)
        #expect(hex(proof) == vectors["proof (hex)"])
        #expect(Base64.encode(proof) == vectors["proof (b64)"])
        let serverProof = LoginProof.serverProof(token: token, serverNonce: serverNonce, clientNonce: clientNonce, name: name)
        #expect(hex(serverProof) == vectors["serverProof (hex)"])
        #expect(Base64.encode(serverProof) == vectors["serverProof (b64)"])
    }

    private static func bytes(hex text: String?) -> [UInt8]? {
        guard let text, text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
