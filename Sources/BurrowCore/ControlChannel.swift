import BurrowProtocol
import NIOCore

/// The control stream as an async channel of `ControlMessage`s: the login and proxy requests
/// are a short conversation, written most clearly as sequential async code.
typealias ControlChannel = NIOAsyncChannel<ControlMessage, ControlMessage>

extension ControlChannel {
    /// Wraps a freshly opened control stream. Call on the stream's event loop.
    static func wrapping(_ stream: Channel) throws -> ControlChannel {
        try stream.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(MessageDecoder<ControlMessage>()),
            MessageToByteHandler(MessageEncoder<ControlMessage>())
        )
        return try ControlChannel(
            wrappingChannelSynchronously: stream,
            configuration: .init(inboundType: ControlMessage.self, outboundType: ControlMessage.self)
        )
    }
}

/// The control stream ended, or said something out of turn.
struct ControlProtocolError: Error, CustomStringConvertible {
    let description: String
}

extension NIOAsyncChannelInboundStream<ControlMessage>.AsyncIterator {
    /// The next message, or an error naming what was expected when the stream ends.
    mutating func next(expecting what: String) async throws -> ControlMessage {
        guard let message = try await self.next() else {
            throw ControlProtocolError(description: "control stream closed while waiting for \(what)")
        }
        return message
    }
}
