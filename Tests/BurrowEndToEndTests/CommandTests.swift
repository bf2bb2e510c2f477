import BurrowClient
import BurrowConfig
import BurrowTransport
import Testing

/// Sessions that take commands: what hot reload will drive, driven here directly.
@Suite(.timeLimit(.minutes(1))) struct CommandTests {
    @Test func aProxyOpenedWhileTheClientRunsIsPublishedAndClosedOnCommand() async throws {
        let tunnel = try await InProcessTunnel.start(portCount: 2, proxies: [("first", 0)])
        var events = tunnel.events.makeAsyncIterator()
        #expect(await events.next { if case .proxyOpened(name: "first", _) = $0 { true } else { false } } != nil)

        #expect(tunnel.client.open(InProcessTunnel.proxy("second", to: tunnel.echo, remotePort: tunnel.ports[1])))
        // A second proxy of the same name changes nothing (and asks the server nothing).
        #expect(!tunnel.client.open(InProcessTunnel.proxy("first", to: tunnel.echo, remotePort: tunnel.ports[1])))
        #expect(await events.next { if case .proxyOpened(name: "second", _) = $0 { true } else { false } }
            == .proxyOpened(name: "second", remotePort: tunnel.ports[1]))
        #expect(try await InProcessTunnel.visit(tunnel.ports[1], "through the second") == "through the second")
        #expect(tunnel.client.status.map(\.remotePort) == [tunnel.ports[0], tunnel.ports[1]])

        #expect(tunnel.client.close(proxyNamed: "second"))
        #expect(!tunnel.client.close(proxyNamed: "never"))
        #expect(await events.next { if case .proxyClosed = $0 { true } else { false } } == .proxyClosed(name: "second"))
        await #expect(throws: (any Error).self) { _ = try await InProcessTunnel.visit(tunnel.ports[1]) }
        #expect(tunnel.client.status.map(\.name) == ["first"])
        #expect(try await InProcessTunnel.visit(tunnel.ports[0], "first still works") == "first still works")
        await tunnel.stop()
    }

    @Test func portsTakenFromATokenCloseTheProxiesOnThem() async throws {
        let tunnel = try await InProcessTunnel.start(portCount: 2, proxies: [("kept", 0), ("dropped", 1)])
        var events = tunnel.events.makeAsyncIterator()
        var opened: Set<String> = []
        while opened.count < 2, let event = await events.next() {
            if case .proxyOpened(let name, _) = event { opened.insert(name) }
        }
        var narrower = tunnel.rule
        narrower.ports = PortSet([tunnel.ports[0]...tunnel.ports[0]])
        await tunnel.server.update(tokens: [narrower])
        #expect(await events.next { if case .proxyClosed = $0 { true } else { false } } == .proxyClosed(name: "dropped"))
        await #expect(throws: (any Error).self) { _ = try await InProcessTunnel.visit(tunnel.ports[1]) }
        #expect(try await InProcessTunnel.visit(tunnel.ports[0], "kept") == "kept")
        await tunnel.stop()
    }

    @Test func aRevokedTokenEndsItsSessionAndItsNextLogin() async throws {
        let tunnel = try await InProcessTunnel.start(portCount: 1, proxies: [("only", 0)])
        var events = tunnel.events.makeAsyncIterator()
        #expect(await events.next { if case .proxyOpened = $0 { true } else { false } } != nil)
        await tunnel.server.update(tokens: [])
        #expect(await events.next { if case .disconnected = $0 { true } else { false } } != nil)
        // The next login finds no such token: the client gives up, as on a wrong token.
        let failure = await #expect(throws: BurrowError.self) { try await tunnel.run.value }
        #expect(failure?.code == .authenticationFailed)
        await tunnel.stop()
    }
}
