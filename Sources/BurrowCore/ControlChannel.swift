import BurrowProtocol
import NIOCore

/// The control stream as an async channel of `ControlMessage`s: the login and proxy requests
/// are a short conversation, written most clearly as sequential async code. Inbound, each frame
/// arrives as a `Result`: a message, or why its JSON was not one (the conversation answers it).
typealias ControlChannel = NIOAsyncChannel<Result<ControlMessage, MessageFraming.Error>, ControlMessage>

typealias ControlInbound = NIOAsyncChannelInboundStream<Result<ControlMessage, MessageFraming.Error>>.AsyncIterator
typealias ControlOutbound = NIOAsyncChannelOutboundWriter<ControlMessage>

extension ControlChannel {
    /// Wraps a freshly opened control stream. Call on the stream's event loop.
    static func wrapping(_ stream: Channel) throws -> ControlChannel {
        try stream.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(MessageDecoder<ControlMessage>()),
            MessageToByteHandler(MessageEncoder<ControlMessage>())
        )
        return try ControlChannel(
            wrappingChannelSynchronously: stream,
            configuration: .init(inboundType: Result<ControlMessage, MessageFraming.Error>.self, outboundType: ControlMessage.self)
        )
    }
}

/// The control stream ended, or said something out of turn.
struct ControlProtocolError: Error, CustomStringConvertible {
    let description: String
}

/// The peer broke the control protocol (a malformed message, one out of its role): the session
/// ends with GoAway(protocol error).
struct ControlViolation: Error, CustomStringConvertible {
    let description: String
}

extension ControlInbound {
    /// The next frame, or an error naming what was expected when the stream ends.
    mutating func next(expecting what: String) async throws -> Result<ControlMessage, MessageFraming.Error> {
        guard let message = try await self.next() else {
            throw ControlProtocolError(description: "control stream closed while waiting for \(what)")
        }
        return message
    }
}
