import Crypto
import FoundationEssentials

/// The challenge-response login: both sides prove they hold the token without sending it.
///
/// The server sends a fresh random nonce; the client answers with its own nonce and
/// `HMAC-SHA256(token, "burrow-client-v1" ‖ len ‖ serverNonce ‖ len ‖ clientNonce ‖ len ‖ name)`,
/// over the nonces' raw bytes (not their base64 text) and the name's UTF-8, each preceded by its
/// length as a 4-byte big-endian integer. The server answers with the same construction under
/// "burrow-server-v1". A captured login is useless on another connection because the server
/// nonce differs every time; the distinct contexts keep a server proof from ever passing as a
/// client proof. docs/protocol.md carries test vectors that `LoginProofTests` checks.
public enum LoginProof {
    /// Size of a nonce in bytes (base64 on the wire: 44 characters).
    public static let nonceLength = 32
    /// Size of a proof in bytes (HMAC-SHA256; base64 on the wire: 44 characters).
    public static let proofLength = 32

    /// A new random nonce.
    public static func makeNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<Self.nonceLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The first 8 bytes of SHA-256(token's UTF-8), as 16 lower-case hex digits: lets the server
    /// find the token, reveals nothing usable about it.
    public static func tokenHint(_ token: String) -> String {
        hex(SHA256.hash(data: Array(token.utf8)).prefix(8))
    }

    public static func clientProof(token: String, serverNonce: [UInt8], clientNonce: [UInt8], name: String) -> [UInt8] {
        Self.mac(token: token, context: "burrow-client-v1", serverNonce, clientNonce, Array(name.utf8))
    }

    public static func serverProof(token: String, serverNonce: [UInt8], clientNonce: [UInt8], name: String) -> [UInt8] {
        Self.mac(token: token, context: "burrow-server-v1", serverNonce, clientNonce, Array(name.utf8))
    }

    /// Compares in constant time (for equal lengths).
    public static func matches(_ proof: [UInt8], expected: [UInt8]) -> Bool {
        guard proof.count == expected.count else { return false }
        return zip(proof, expected).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private static func mac(token: String, context: String, _ parts: [UInt8]...) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Array(token.utf8)))
        hmac.update(data: Array(context.utf8))
        for part in parts {
            // Length-prefix each part so that ("ab", "c") and ("a", "bc") differ.
            hmac.update(data: withUnsafeBytes(of: UInt32(part.count).bigEndian) { Array($0) })
            hmac.update(data: part)
        }
        return Array(hmac.finalize())
    }
}

/// Base64 (RFC 4648, with padding) for the byte fields of control messages.
public enum Base64 {
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// The bytes, or nil when `text` is not base64.
    public static func decode(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text).map(Array.init)
    }
}

/// Lower-case hex, two digits a byte.
public func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
