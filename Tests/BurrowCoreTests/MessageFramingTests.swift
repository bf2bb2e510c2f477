import BurrowProtocol
import NIOCore
import Testing

@Suite struct MessageFramingTests {
    static let messages: [ControlMessage] = [
        .challenge(.init(nonce: "bm9uY2U=", serverVersion: "0.1.0")),
        .login(.init(name: "lab", tokenHint: "0011223344556677", clientNonce: "Yw==", proof: "cHJvb2Y=", version: "0.1.0")),
        .loginOK(.init(sessionID: 42, heartbeatMilliseconds: 10_000, serverProof: "c3A=")),
        .loginError(.init(code: .authenticationFailed, message: "authentication failed")),
        .openProxy(.init(name: "ssh", type: "tcp", remotePort: 6000)),
        .openProxy(.init(name: "web", type: "tcp", remotePort: nil)),
        .proxyOpened(.init(name: "ssh", remotePort: 6000)),
        .proxyRejected(.init(name: "x", reason: "port 1 is not allowed")),
        .closeProxy(.init(name: "ssh")),
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

    @Test func malformedJSONNamesWhatIsWrong() throws {
        var buffer = ByteBuffer()
        let body = #"{"type":"login","body":{"name":"lab"}}"#
        buffer.writeInteger(UInt32(body.utf8.count))
        buffer.writeString(body)
        do {
            _ = try MessageFraming.read(ControlMessage.self, from: &buffer)
            Issue.record("accepted a login without its fields")
        } catch let error as MessageFraming.Error {
            #expect(error.description.contains("missing field"))
        }
    }
}
