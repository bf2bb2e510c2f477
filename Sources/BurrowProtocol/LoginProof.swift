import Crypto
import FoundationEssentials

/// The challenge-response login: both sides prove they hold the token without sending it.
///
/// The server sends a fresh random nonce; the client answers with its own nonce and
/// `HMAC-SHA256(token, "burrow-client-v1" ‖ serverNonce ‖ clientNonce ‖ name)`; the server
/// answers with the same construction under "burrow-server-v1". A captured login is useless on
/// another connection because the server nonce differs every time; the distinct contexts keep a
/// server proof from ever passing as a client proof.
public enum LoginProof {
    /// A new random nonce (32 bytes), base64.
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
    }

    /// The first 8 bytes of SHA-256(token), hex: lets the server find the token, reveals nothing
    /// usable about it.
    public static func tokenHint(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).prefix(8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    public static func clientProof(token: String, serverNonce: String, clientNonce: String, name: String) -> String {
        Self.mac(token: token, context: "burrow-client-v1", serverNonce, clientNonce, name)
    }

    public static func serverProof(token: String, serverNonce: String, clientNonce: String, name: String) -> String {
        Self.mac(token: token, context: "burrow-server-v1", serverNonce, clientNonce, name)
    }

    /// Compares in constant time.
    public static func matches(_ proof: String, expected: String) -> Bool {
        guard let given = Data(base64Encoded: proof), let wanted = Data(base64Encoded: expected), given.count == wanted.count else {
            return false
        }
        return zip(given, wanted).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private static func mac(token: String, context: String, _ parts: String...) -> String {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Data(token.utf8)))
        hmac.update(data: Data(context.utf8))
        for part in parts {
            // Length-prefix each part so that ("ab", "c") and ("a", "bc") differ.
            hmac.update(data: withUnsafeBytes(of: UInt32(part.utf8.count).bigEndian) { Data($0) })
            hmac.update(data: Data(part.utf8))
        }
        return Data(hmac.finalize()).base64EncodedString()
    }
}
