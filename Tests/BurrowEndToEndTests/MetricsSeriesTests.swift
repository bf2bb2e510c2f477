import BurrowClient
import BurrowCore
import NIOCore
import NIOPosix
import Testing

/// A proxy's series live exactly as long as its public port: none for a port that could not be
/// bound, none once the port is closed.
@Suite(.timeLimit(.minutes(1))) struct MetricsSeriesTests {
    @Test func aPortThatCannotBeBoundOrIsClosedLeavesNoSeries() async throws {
        let export = PrometheusExport()
        let tunnel = try await InProcessTunnel.start(portCount: 2, proxies: [("open", 0)], serverMetrics: export.factory)
        var events = tunnel.events.makeAsyncIterator()
        #expect(await events.next { if case .proxyOpened(name: "open", _) = $0 { true } else { false } } != nil)
        #expect(try await InProcessTunnel.visit(tunnel.ports[0], "counted") == "counted")
        #expect(export.render().contains(#"burrow_server_bytes_total{client="lab",proxy="open",direction="in"} 7"#), "\(export.render())")

        // Somebody else holds the second port: the proxy is refused, and leaves no series behind.
        let holder = try await ServerBootstrap(group: InProcessTunnel.group).bind(host: "127.0.0.1", port: tunnel.ports[1]).get()
        #expect(tunnel.client.open(InProcessTunnel.proxy("taken", to: tunnel.echo, remotePort: tunnel.ports[1])))
        #expect(await events.next { if case .proxyRejected(name: "taken", _) = $0 { true } else { false } } != nil)
        #expect(!export.render().contains("proxy=\"taken\""), "\(export.render())")

        // A proxy that closes takes its series with it.
        #expect(tunnel.client.close(proxyNamed: "open"))
        #expect(await events.next { if case .proxyClosed(name: "open") = $0 { true } else { false } } != nil)
        #expect(!export.render().contains("proxy=\"open\""), "\(export.render())")
        try await holder.close()
        await tunnel.stop()
    }
}
