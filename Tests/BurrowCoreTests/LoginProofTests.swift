import BurrowProtocol
import Testing

@Suite struct LoginProofTests {
    let token = "a-token-for-tests"

    @Test func theRightTokenProvesAndAWrongOneDoesNot() {
        let proof = LoginProof.clientProof(token: self.token, serverNonce: "s", clientNonce: "c", name: "lab")
        #expect(LoginProof.matches(proof, expected: LoginProof.clientProof(token: self.token, serverNonce: "s", clientNonce: "c", name: "lab")))
        #expect(!LoginProof.matches(proof, expected: LoginProof.clientProof(token: "another-token", serverNonce: "s", clientNonce: "c", name: "lab")))
    }

    @Test func aProofIsBoundToTheServerNonceTheNameAndTheDirection() {
        let proof = LoginProof.clientProof(token: self.token, serverNonce: "s1", clientNonce: "c", name: "lab")
        // Replayed against a new challenge:
        #expect(!LoginProof.matches(proof, expected: LoginProof.clientProof(token: self.token, serverNonce: "s2", clientNonce: "c", name: "lab")))
        // Presented under another client name:
        #expect(!LoginProof.matches(proof, expected: LoginProof.clientProof(token: self.token, serverNonce: "s1", clientNonce: "c", name: "lab2")))
        // A server proof never passes for a client proof:
        #expect(!LoginProof.matches(proof, expected: LoginProof.serverProof(token: self.token, serverNonce: "s1", clientNonce: "c", name: "lab")))
        // Field boundaries matter: ("s1", "c") is not ("s", "1c").
        #expect(!LoginProof.matches(proof, expected: LoginProof.clientProof(token: self.token, serverNonce: "s", clientNonce: "1c", name: "lab")))
    }

    @Test func theHintRevealsAFixedShortPrefixAndNoncesAreFresh() {
        #expect(LoginProof.tokenHint(self.token).count == 16)
        #expect(LoginProof.tokenHint(self.token) == LoginProof.tokenHint(self.token))
        #expect(LoginProof.tokenHint(self.token) != LoginProof.tokenHint(self.token + "x"))
        #expect(LoginProof.makeNonce() != LoginProof.makeNonce())
        #expect(!LoginProof.matches("not base64!", expected: LoginProof.makeNonce()))
    }
}
