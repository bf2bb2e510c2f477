import BurrowProtocol
import NIOCore
import Testing

@Suite struct MessageFramingTests {
    static let messages: [ControlMessage] = [
        .challenge(.init(nonce: "bm9uY2U=", serverVersion: "0.1.0")),
        .login(.init(name: "lab", tokenHint: "0011223344556677", clientNonce: "Yw==", proof: "cHJvb2Y=", version: "0.1.0")),
        .loginOK(.init(sessionID: "18446744073709551615", heartbeatMilliseconds: 10_000, serverProof: "c3A=")),
        .loginError(.init(code: .authenticationFailed, message: "authentication failed")),
        .openProxy(.init(name: "ssh", type: "tcp", remotePort: 6000)),
        .openProxy(.init(name: "web", type: "tcp", remotePort: nil)),
        .proxyOpened(.init(name: "ssh", remotePort: 6000)),
        .proxyRejected(.init(name: "x", code: .notAllowed, reason: "port 1 is not allowed")),
        .closeProxy(.init(name: "ssh")),
        .proxyClosed(.init(name: "ssh", remotePort: 6000)),
        .proxyClosed(.init(name: "gone", remotePort: nil)),
    ]

    @Test(arguments: messages)
    func everyControlMessageRoundTrips(_ message: ControlMessage) throws {
        var buffer = try MessageFraming.encode(message)
        #expect(try MessageFraming.read(ControlMessage.self, from: &buffer) == message)
        #expect(buffer.readableBytes == 0)
    }

    @Test func partialInputConsumesNothingUntilComplete() throws {
        let whole = try MessageFraming.encode(VisitorHeader(proxy: "ssh", visitorAddress: "1.2.3.4:5"))
        for cut in 0..<whole.readableBytes {
            var partial = whole.getSlice(at: 0, length: cut)!
            #expect(try MessageFraming.read(VisitorHeader.self, from: &partial) == nil)
            #expect(partial.readableBytes == cut)
        }
    }

    @Test func aLengthBeyondTheLimitIsRefusedBeforeBuffering() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(MessageFraming.maximumLength + 1))
        #expect(throws: MessageFraming.Error.self) { try MessageFraming.read(ControlMessage.self, from: &buffer) }
    }

    private static func frame(_ json: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(json.utf8.count))
        buffer.writeString(json)
        return buffer
    }

    private static func failure(_ json: String) -> MessageFraming.Error? {
        var buffer = Self.frame(json)
        do {
            _ = try MessageFraming.read(ControlMessage.self, from: &buffer)
            return nil
        } catch {
            return error
        }
    }

    @Test func aMistypedFieldIsNamedWithItsPath() throws {
        let wrongType = try #require(Self.failure(#"{"type":"openProxy","body":{"name":"ssh","type":"tcp","remotePort":"6000"}}"#))
        #expect(wrongType.code == .malformed)
        #expect(wrongType.field == "body.remotePort")
        #expect(wrongType.description == "field 'body.remotePort' is not an integer")
        let missing = try #require(Self.failure(#"{"type":"login","body":{"name":"lab","tokenHint":"x","clientNonce":"x","version":"1"}}"#))
        #expect(missing.description == "missing field 'body.proof'")
        #expect(try #require(Self.failure("{not json")).description == "not JSON")
    }

    /// A newer peer's message is told apart from a broken one, so that the conversation can
    /// skip it instead of ending the session.
    @Test func anUnknownTypeIsNotAMalformedMessage() throws {
        let unknown = try #require(Self.failure(#"{"type":"status","body":{"anything":[1,2,3]}}"#))
        #expect(unknown.code == .unknownType)
        #expect(unknown.description == "unknown message type \"status\"")
    }

    /// The pipeline decoder hands content errors on as values (the stream stays in step) and
    /// throws only when the framing itself is broken.
    @Test func theDecoderPassesContentErrorsOnAndThrowsOnlyForBrokenFraming() throws {
        var decoder = MessageDecoder<ControlMessage>()
        var input = Self.frame(#"{"type":"status","body":{}}"#)
        var second = try MessageFraming.encode(ControlMessage.closeProxy(.init(name: "ssh")))
        input.writeBuffer(&second)
        #expect(try decoder.decode(buffer: &input).map { (try? $0.get()) == nil } == true)
        #expect(try decoder.decode(buffer: &input).map { try $0.get() } == .closeProxy(.init(name: "ssh")))
        var tooLong = ByteBuffer()
        tooLong.writeInteger(UInt32(MessageFraming.maximumLength + 1))
        #expect(throws: MessageFraming.Error.self) { try decoder.decode(buffer: &tooLong) }
    }

    @Test func theSessionIDIsAStringOnTheWire() throws {
        var buffer = try MessageFraming.encode(ControlMessage.loginOK(.init(sessionID: "18446744073709551615", heartbeatMilliseconds: 1, serverProof: "")))
        buffer.moveReaderIndex(forwardBy: 4)
        #expect(buffer.readString(length: buffer.readableBytes)!.contains(#""sessionID":"18446744073709551615""#))
    }
}
