@testable import BurrowProtocol
import FoundationEssentials
import NIOCore
import Testing

/// VisitorHeader's own codec against the general one (JSONEncoder, JSONDecoder): what one
/// writes the other reads, and on any input both accept or refuse alike.
@Suite struct VisitorHeaderTests {
    static let headers = [
        VisitorHeader(proxy: "ssh", visitorAddress: "203.0.113.9:5555"),
        VisitorHeader(proxy: "web-1_a", visitorAddress: "[2001:db8::1]:443"),
        VisitorHeader(proxy: "quote\"back\\slash", visitorAddress: "tab\tnew\nline\u{1}nul\u{0}"),
        VisitorHeader(proxy: "ünïcødé ☃ 𝄞", visitorAddress: "/"),
        VisitorHeader(proxy: "", visitorAddress: ""),
    ]

    @Test(arguments: headers)
    func whatItWritesIsReadByBothDecoders(_ header: VisitorHeader) throws {
        let framed = try header.framed()
        var ours = framed
        #expect(try VisitorHeader.read(from: &ours) == header)
        #expect(ours.readableBytes == 0)
        var general = framed
        #expect(try MessageFraming.read(VisitorHeader.self, from: &general) == header)
    }

    /// The point of the codec: what the server writes, and JSONEncoder's form of a plain
    /// header, never reach JSONDecoder.
    @Test func plainHeadersTakeThePlainParser() throws {
        let header = VisitorHeader(proxy: "ssh", visitorAddress: "[2001:db8::1]:443")
        for var framed in [try header.framed(), try MessageFraming.encode(header)] {
            let body = try #require(try MessageFraming.readFrame(from: &framed))
            #expect(VisitorHeader.plain(body) == header)
        }
        var escaped = try VisitorHeader(proxy: "a\"b", visitorAddress: "x").framed()
        #expect(VisitorHeader.plain(try #require(try MessageFraming.readFrame(from: &escaped))) == nil)
    }

    @Test(arguments: headers)
    func whatJSONEncoderWritesIsRead(_ header: VisitorHeader) throws {
        var framed = try MessageFraming.encode(header)
        #expect(try VisitorHeader.read(from: &framed) == header)
    }

    /// Bodies the plain parser takes, and bodies it must hand to JSONDecoder (escapes, other
    /// fields, other types, duplicates, bad UTF-8, raw control characters, trailing bytes).
    static let bodies: [[UInt8]] = [
        #"{"proxy":"ssh","visitorAddress":"1.2.3.4:5"}"#,
        " \n{ \"visitorAddress\" :\t\"1.2.3.4:5\" ,\r\n \"proxy\" : \"ssh\" } \n",
        #"{"proxy":"s\u0073h","visitorAddress":"1.2.3.4:5"}"#,
        #"{"proxy":"s\/h","visitorAddress":"1.2.3.4:5"}"#,
        #"{"proxy":"ssh","visitorAddress":"1.2.3.4:5","extra":[1,{"a":null}]}"#,
        #"{"proxy":"ssh","visitorAddress":"1.2.3.4:5","extra":"x"}"#,
        #"{"proxy":"ssh","proxy":"web","visitorAddress":"1.2.3.4:5"}"#,
        #"{"proxy":"ssh"}"#,
        #"{"proxy":7,"visitorAddress":"1.2.3.4:5"}"#,
        #"{"proxy":null,"visitorAddress":"1.2.3.4:5"}"#,
        #"{"proxy":"ssh","visitorAddress":"1.2.3.4:5"} x"#,
        #"{"proxy":"ssh","visitorAddress":"1.2.3.4:5",}"#,
        #"{"proxy":"ssh" "visitorAddress":"1.2.3.4:5"}"#,
        #"["ssh","1.2.3.4:5"]"#,
        #"{}"#,
        "",
        "{\"proxy\":\"s\u{1}h\",\"visitorAddress\":\"1.2.3.4:5\"}",
        #"{"proxy":"ssh","visitorAddress":"1.2.3.4:5""#,
    ].map { Array($0.utf8) } + [
        Array(#"{"proxy":""#.utf8) + [0xC3, 0x28] + Array(#"","visitorAddress":"1.2.3.4:5"}"#.utf8),
        Array(#"{"proxy":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#"","visitorAddress":"1.2.3.4:5"}"#.utf8),
    ]

    @Test(arguments: bodies)
    func anyBodyIsAcceptedOrRefusedAsJSONDecoderDoes(_ body: [UInt8]) {
        var framed = ByteBuffer()
        framed.writeInteger(UInt32(body.count))
        framed.writeBytes(body)
        var ours = framed
        var general = framed
        let expected = Result { () throws(MessageFraming.Error) in try MessageFraming.read(VisitorHeader.self, from: &general) }
        let actual = Result { () throws(MessageFraming.Error) in try VisitorHeader.read(from: &ours) }
        switch (actual, expected) {
        case (.success(let a), .success(let b)):
            #expect(a == b)
            #expect(ours.readableBytes == 0)
        case (.failure(let a), .failure(let b)):
            #expect(a == b)
        default:
            Issue.record("ours: \(actual), JSONDecoder: \(expected), for \(String(decoding: body, as: UTF8.self))")
        }
    }

    @Test func partialInputConsumesNothingUntilComplete() throws {
        let whole = try VisitorHeader(proxy: "ssh", visitorAddress: "1.2.3.4:5").framed()
        for cut in 0..<whole.readableBytes {
            var partial = whole.getSlice(at: 0, length: cut)!
            #expect(try VisitorHeader.read(from: &partial) == nil)
            #expect(partial.readableBytes == cut)
        }
    }

    @Test func aHeaderOverTheLimitIsRefused() {
        let header = VisitorHeader(proxy: String(repeating: "p", count: MessageFraming.maximumLength), visitorAddress: "1.2.3.4:5")
        #expect(throws: MessageFraming.Error.self) { try header.framed() }
    }
}
