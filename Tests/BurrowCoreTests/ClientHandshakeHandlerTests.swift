@testable import BurrowCore
import BurrowProtocol
import BurrowTransport
import NIOCore
import NIOEmbedded
import Testing

/// The client's first handler on an EmbeddedChannel, fed what servers and strangers answer.
@Suite struct ClientHandshakeHandlerTests {
    private func answer(_ chunks: [[UInt8]]) throws -> (Result<Void, Error>?, EmbeddedChannel) {
        let channel = EmbeddedChannel()
        let ready = channel.eventLoop.makePromise(of: Void.self)
        var outcome: Result<Void, Error>?
        ready.futureResult.whenComplete { outcome = $0 }
        try channel.pipeline.syncOperations.addHandler(ClientHandshakeHandler(ready: ready) { _ in })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        for chunk in chunks where channel.isActive {
            try channel.writeInbound(ByteBuffer(bytes: chunk))
        }
        return (outcome, channel)
    }

    @Test func aRefusalLineIsReadToItsNewline() throws {
        let (outcome, _) = try self.answer([Array("BURROW! unsupp".utf8), Array("orted protocol version 9\n".utf8)])
        #expect(throws: BurrowError.self) { try outcome?.get() }
        #expect("\(try #require(outcome).failureDescription)" == "server refused: unsupported protocol version 9")
    }

    /// A refusal line that never ends is not held without bound: past 1 KiB it is a stranger,
    /// and the connection closes.
    @Test func aRefusalLineThatNeverEndsIsCutAtItsLimit() throws {
        var chunks = [Array("BURROW! ".utf8)]
        chunks += Array(repeating: Array(repeating: UInt8(ascii: "x"), count: 100), count: 100)
        let (outcome, channel) = try self.answer(chunks)
        let description = try #require(outcome).failureDescription
        #expect(description.hasPrefix("server sent a refusal line longer than 1024 bytes"))
        #expect(!channel.isActive)
    }
}

extension Result<Void, Error> {
    fileprivate var failureDescription: String {
        if case .failure(let error) = self { return "\(error)" }
        return "success"
    }
}
