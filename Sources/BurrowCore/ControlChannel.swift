import BurrowProtocol
import BurrowTransport
import Logging
import NIOCore

/// The control stream as an async channel of `ControlMessage`s: the login and proxy requests
/// are a short conversation, written most clearly as sequential async code. Inbound, each frame
/// arrives as a `Result`: a message, or why its JSON was not one (the conversation answers it).
public typealias ControlChannel = NIOAsyncChannel<Result<ControlMessage, MessageFraming.Error>, ControlMessage>

public typealias ControlInbound = NIOAsyncChannelInboundStream<Result<ControlMessage, MessageFraming.Error>>.AsyncIterator
public typealias ControlOutbound = NIOAsyncChannelOutboundWriter<ControlMessage>

extension ControlChannel {
    /// Wraps a freshly opened control stream. Call on the stream's event loop.
    public static func wrapping(_ stream: Channel) throws -> ControlChannel {
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

extension ControlInbound {
    /// The next frame, or an error naming what was expected when the stream ends.
    public mutating func next(expecting what: String) async throws -> Result<ControlMessage, MessageFraming.Error> {
        guard let message = try await self.next() else {
            throw BurrowError(.controlClosed, "control stream closed while waiting for \(what)")
        }
        return message
    }
}

extension ControlInbound {
    /// The next message after login from `peer` (a `sender`), or nil when the stream ends. A
    /// type this build does not know is skipped with a log line, so that a newer peer does not
    /// lose its session to an older one; a malformed message, or one the other role sends,
    /// throws a `BurrowError` (`protocolViolation`).
    public mutating func next(from peer: String, _ sender: ControlMessage.Sender, logger: Logger) async throws -> ControlMessage? {
        while let frame = try await self.next() {
            switch frame {
            case .success(let message) where message.sender == sender:
                return message
            case .success(let message):
                throw BurrowError(.protocolViolation, "\(peer) sent \(message.type), which it may not send")
            case .failure(let error) where error.code == .unknownType:
                logger.warning("\(peer) sent a message this build does not know (\(error)): ignored")
            case .failure(let error):
                throw BurrowError(.protocolViolation, "malformed control message from \(peer): \(error)")
            }
        }
        return nil
    }
}
