@testable import BurrowClient
import BurrowConfig
import BurrowProtocol
import Testing

/// The client's proxies and what the running session is asked: each proxy once per session.
@Suite struct ProxyTableTests {
    static func proxy(_ name: String) -> ClientConfig.Proxy {
        ClientConfig.Proxy(name: name, type: .tcp, local: Endpoint(host: "127.0.0.1", port: 80), remotePort: nil)
    }

    @Test func aSessionIsAskedForEveryProxyOnceWhateverTheOrder() async {
        let table = ProxyTable([Self.proxy("b"), Self.proxy("a")], connectTimeout: .seconds(1))
        // Before any session: nothing is sent anywhere, the table just grows.
        #expect(table.add(Self.proxy("c")))
        #expect(!table.add(Self.proxy("a")))
        let (requests, sink) = AsyncStream.makeStream(of: ControlMessage.self)
        #expect(table.attach(sink).map(\.name) == ["a", "b", "c"])
        // After: additions and removals reach the session, once each.
        #expect(table.add(Self.proxy("d")))
        #expect(table.remove("b"))
        #expect(!table.remove("b"))
        table.detach()
        #expect(table.add(Self.proxy("e")))
        sink.finish()
        var sent: [String] = []
        for await request in requests {
            switch request {
            case .openProxy(let open): sent.append("open \(open.name)")
            case .closeProxy(let close): sent.append("close \(close.name)")
            default: sent.append("\(request.type)")
            }
        }
        #expect(sent == ["open d", "close b"])
        #expect(table.all.map(\.proxy.name) == ["a", "c", "d", "e"])
    }

    @Test func aNewSessionStartsWithNothingPublished() {
        let table = ProxyTable([Self.proxy("a")], connectTimeout: .seconds(1))
        let (_, sink) = AsyncStream.makeStream(of: ControlMessage.self)
        _ = table.attach(sink)
        table.setState(.published(remotePort: 6000), of: "a")
        #expect(table.entry("a")?.state == .published(remotePort: 6000))
        table.detach()
        _ = table.attach(sink)
        #expect(table.entry("a")?.state == .requested)
    }
}
