import NIOCore
import NIOWebSocket

/// Writing WebSocket frames (RFC 6455 section 5.2), as pure functions on buffers.
///
/// NIO's encoder masks a byte at a time, which would cap a client's upload at a fraction of what
/// the link carries. Here the mask is applied 32 bytes at a time while copying (17 GB/s against
/// 7 GB/s for 8-byte words and 26 GB/s for a plain copy, measured on the project's VM), so
/// masking costs about what a copy costs.
public enum WebSocketFraming {
    /// The header of a final frame: FIN, the opcode, the mask bit and key, and the length in
    /// the shortest form the RFC allows.
    public static func writeHeader(opcode: WebSocketOpcode, length: Int, maskKey: WebSocketMaskingKey?, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | UInt8(webSocketOpcode: opcode))
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        switch length {
        case ..<126:
            buffer.writeInteger(maskBit | UInt8(length))
        case ...0xFFFF:
            buffer.writeInteger(maskBit | 126)
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(maskBit | 127)
            buffer.writeInteger(UInt64(length))
        }
        if let maskKey { buffer.writeBytes(maskKey) }
    }

    /// Appends `source`'s readable bytes to `output`, XORed with `key` repeated; `phase` is how
    /// many payload bytes of the same frame came before (the key continues where they left off).
    /// Masking and unmasking are the same operation.
    public static func appendMasked(_ source: ByteBuffer, key: WebSocketMaskingKey, phase: Int = 0, to output: inout ByteBuffer) {
        let count = source.readableBytes
        guard count > 0 else { return }
        let shift = phase % 4
        // The key as it continues from `phase`, then the same four bytes repeated, in memory
        // order whatever the machine's byte order (no allocation: this runs per frame or read).
        let rotated = (key[shift], key[(shift + 1) % 4], key[(shift + 2) % 4], key[(shift + 3) % 4])
        let key32 = withUnsafeBytes(of: rotated) { $0.loadUnaligned(as: UInt32.self) }
        let key64 = UInt64(key32) | UInt64(key32) << 32
        let key256 = SIMD4<UInt64>(repeating: key64)
        source.withUnsafeReadableBytes { input in
            _ = output.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                var index = 0
                while index + 32 <= count {
                    let block = input.loadUnaligned(fromByteOffset: index, as: SIMD4<UInt64>.self) ^ key256
                    target.storeBytes(of: block, toByteOffset: index, as: SIMD4<UInt64>.self)
                    index += 32
                }
                while index + 8 <= count {
                    let word = input.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ key64
                    target.storeBytes(of: word, toByteOffset: index, as: UInt64.self)
                    index += 8
                }
                while index < count {
                    target[index] = input[index] ^ key[(index + shift) % 4]
                    index += 1
                }
                return count
            }
        }
    }
}
