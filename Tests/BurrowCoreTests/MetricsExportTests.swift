import BurrowCore
import Foundation
import Testing

/// The metrics catalogue and its export: names Prometheus accepts, help lines in the scrape,
/// per-proxy series that count and then leave, and a README that lists them all.
@Suite struct MetricsExportTests {
    @Test func everyMetricHasAValidUniqueNameAndHelp() {
        let names = Metric.all.map(\.name)
        #expect(Set(names).count == names.count)
        for metric in Metric.all {
            #expect(metric.name.hasPrefix("burrow_server_") || metric.name.hasPrefix("burrow_client_"), "\(metric.name)")
            #expect(metric.name.allSatisfy { $0.isLowercase || $0 == "_" }, "\(metric.name)")
            #expect(metric.name.hasSuffix("_total") == (metric.kind == .counter), "\(metric.name)")
            #expect(!metric.help.isEmpty && metric.help.hasSuffix("."), "\(metric.name)")
        }
    }

    /// A proxy's meter counts into its series with the help line of the catalogue, and its
    /// `/status` snapshot says the same; once destroyed, its series leave the scrape.
    @Test func aProxyMeterCountsIntoTheExportUntilDestroyed() {
        let export = PrometheusExport()
        let meter = ProxyMeter(.server, labels: [("client", "lab"), ("proxy", "ssh")], factory: export.factory)
        meter.visitorArrived()
        meter.addInbound(1000)
        meter.addInbound(24)
        meter.addOutbound(7)
        meter.noteAbort()
        var tally = DatagramTally(.inbound)
        tally.carried(100)
        for _ in 0..<3 { tally.drop() }
        let reported = tally.report(to: meter), reportedAgain = tally.report(to: meter)
        #expect(reported && !reportedAgain)
        let text = export.render()
        #expect(text.contains("# HELP burrow_server_bytes_total \(Metric.serverProxy.bytes.help)\n"), "\(text)")
        #expect(text.contains("# TYPE burrow_server_bytes_total counter\n"), "\(text)")
        #expect(text.contains(#"burrow_server_bytes_total{client="lab",proxy="ssh",direction="in"} 1124"#), "\(text)")
        #expect(text.contains(#"burrow_server_bytes_total{client="lab",proxy="ssh",direction="out"} 7"#), "\(text)")
        #expect(text.contains(#"burrow_server_visitors{client="lab",proxy="ssh"} 1"#), "\(text)")
        #expect(text.contains(#"burrow_server_stream_resets_total{client="lab",proxy="ssh"} 1"#), "\(text)")
        #expect(text.contains(#"burrow_server_udp_datagrams_total{client="lab",proxy="ssh",direction="in"} 1"#), "\(text)")
        #expect(text.contains(#"burrow_server_udp_dropped_total{client="lab",proxy="ssh"} 3"#), "\(text)")
        var expected = ProxyMeter.Snapshot()
        (expected.visitors, expected.visitorsTotal, expected.bytesIn, expected.bytesOut) = (1, 1, 1124, 7)
        (expected.resets, expected.datagramsIn, expected.datagramsDropped) = (1, 1, 3)
        #expect(meter.snapshot == expected)

        meter.visitorLeft()
        #expect(export.render().contains(#"burrow_server_visitors{client="lab",proxy="ssh"} 0"#))
        meter.destroy()
        #expect(!export.render().contains("proxy=\"ssh\""), "\(export.render())")
    }

    /// Two exports never share a series: each server or client has its own.
    @Test func exportsAreIndependent() {
        let first = PrometheusExport(), second = PrometheusExport()
        ProxyMeter(.client, labels: [("proxy", "web")], factory: first.factory).addInbound(5)
        #expect(first.render().contains(#"burrow_client_bytes_total{proxy="web",direction="in"} 5"#))
        #expect(!second.render().contains("burrow_client_bytes_total"))
    }

    /// README's "Operate it" lists every metric by name, with its labels.
    @Test func theReadmeListsEveryMetric() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        for metric in Metric.all {
            let labels = metric.labels.isEmpty ? "" : "{" + metric.labels.joined(separator: ", ") + "}"
            #expect(text.contains("`\(metric.name)\(labels)`"), "README does not list `\(metric.name)\(labels)`")
        }
    }
}
