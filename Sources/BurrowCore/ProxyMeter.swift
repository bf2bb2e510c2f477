import BurrowTransport
import CoreMetrics
import Synchronization

/// One proxy's traffic, on the server (per client and proxy) or the client (per proxy):
/// visitors now and in all, bytes each way, visitors that ended in an abort, UDP datagrams and
/// drops, local services that could not be reached.
///
/// Every count goes two places: an atomic that `/status` and the dashboard read, and the
/// swift-metrics series that `/metrics` exports (a no-op when metrics are off). Bytes and
/// datagrams are added once per read burst (see `GlueHandler` and `DatagramTally`), never per
/// frame or datagram; visitors and failures once per event.
public final class ProxyMeter: TrafficMeter {
    /// The counts now, for `/status`.
    public struct Snapshot: Equatable, Sendable, Codable {
        public var visitors = 0
        public var visitorsTotal = 0
        public var bytesIn = 0
        public var bytesOut = 0
        public var resets = 0
        public var datagramsIn = 0
        public var datagramsOut = 0
        public var datagramsDropped = 0
        public var localConnectFailures = 0

        public init() {}

        /// Each count summed, for a session's totals.
        public static func + (left: Snapshot, right: Snapshot) -> Snapshot {
            var sum = Snapshot()
            sum.visitors = left.visitors + right.visitors
            sum.visitorsTotal = left.visitorsTotal + right.visitorsTotal
            sum.bytesIn = left.bytesIn + right.bytesIn
            sum.bytesOut = left.bytesOut + right.bytesOut
            sum.resets = left.resets + right.resets
            sum.datagramsIn = left.datagramsIn + right.datagramsIn
            sum.datagramsOut = left.datagramsOut + right.datagramsOut
            sum.datagramsDropped = left.datagramsDropped + right.datagramsDropped
            sum.localConnectFailures = left.localConnectFailures + right.localConnectFailures
            return sum
        }
    }

    private let visitors = Atomic(0)
    private let visitorsTotal = Atomic(0)
    private let bytesIn = Atomic(0)
    private let bytesOut = Atomic(0)
    private let resets = Atomic(0)
    private let datagramsIn = Atomic(0)
    private let datagramsOut = Atomic(0)
    private let datagramsDropped = Atomic(0)
    private let localConnectFailures = Atomic(0)

    private let series: Series

    /// The swift-metrics side of the counts.
    private struct Series {
        let visitors: Meter
        let visitorsTotal: Counter
        let bytesIn: Counter
        let bytesOut: Counter
        let resets: Counter
        let datagramsIn: Counter
        let datagramsOut: Counter
        let datagramsDropped: Counter
        /// The client's only.
        let localConnectFailures: Counter?

        func destroy() {
            self.visitors.destroy()
            for counter in [self.visitorsTotal, self.bytesIn, self.bytesOut, self.resets, self.datagramsIn, self.datagramsOut, self.datagramsDropped] {
                counter.destroy()
            }
            self.localConnectFailures?.destroy()
        }
    }

    /// A meter for one proxy; `labels` name it (`client` and `proxy` on the server, `proxy`
    /// on the client). Its series exist until `destroy()`.
    public init(_ side: Metric.Side, labels: [(String, String)], factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        let metrics = Metric.proxy(side)
        let inbound = labels + [("direction", "in")], outbound = labels + [("direction", "out")]
        self.series = Series(
            visitors: Meter(label: metrics.visitors.name, dimensions: labels, factory: factory),
            visitorsTotal: Counter(label: metrics.visitorsTotal.name, dimensions: labels, factory: factory),
            bytesIn: Counter(label: metrics.bytes.name, dimensions: inbound, factory: factory),
            bytesOut: Counter(label: metrics.bytes.name, dimensions: outbound, factory: factory),
            resets: Counter(label: metrics.resets.name, dimensions: labels, factory: factory),
            datagramsIn: Counter(label: metrics.datagrams.name, dimensions: inbound, factory: factory),
            datagramsOut: Counter(label: metrics.datagrams.name, dimensions: outbound, factory: factory),
            datagramsDropped: Counter(label: metrics.datagramsDropped.name, dimensions: labels, factory: factory),
            localConnectFailures: side == .client
                ? Counter(label: Metric.clientLocalConnectFailures.name, dimensions: labels, factory: factory) : nil
        )
    }

    /// Removes the proxy's series from the export (it closed); counting on is harmless.
    public func destroy() {
        self.series.destroy()
    }

    public var snapshot: Snapshot {
        var snapshot = Snapshot()
        snapshot.visitors = self.visitors.load(ordering: .relaxed)
        snapshot.visitorsTotal = self.visitorsTotal.load(ordering: .relaxed)
        snapshot.bytesIn = self.bytesIn.load(ordering: .relaxed)
        snapshot.bytesOut = self.bytesOut.load(ordering: .relaxed)
        snapshot.resets = self.resets.load(ordering: .relaxed)
        snapshot.datagramsIn = self.datagramsIn.load(ordering: .relaxed)
        snapshot.datagramsOut = self.datagramsOut.load(ordering: .relaxed)
        snapshot.datagramsDropped = self.datagramsDropped.load(ordering: .relaxed)
        snapshot.localConnectFailures = self.localConnectFailures.load(ordering: .relaxed)
        return snapshot
    }

    // MARK: - Counting

    /// A visitor arrived (a connection, a WebSocket upgrade, a UDP flow's first datagram).
    public func visitorArrived() {
        self.visitors.add(1, ordering: .relaxed)
        self.visitorsTotal.add(1, ordering: .relaxed)
        self.series.visitors.increment()
        self.series.visitorsTotal.increment()
    }

    /// A visitor that `visitorArrived()` counted has gone.
    public func visitorLeft() {
        self.visitors.subtract(1, ordering: .relaxed)
        self.series.visitors.decrement()
    }

    public func addInbound(_ bytes: Int) {
        self.bytesIn.add(bytes, ordering: .relaxed)
        self.series.bytesIn.increment(by: bytes)
    }

    public func addOutbound(_ bytes: Int) {
        self.bytesOut.add(bytes, ordering: .relaxed)
        self.series.bytesOut.increment(by: bytes)
    }

    public func noteAbort() {
        self.resets.add(1, ordering: .relaxed)
        self.series.resets.increment()
    }

    /// UDP datagrams carried (`count` of them, `bytes` in all) one way, and `dropped` ones
    /// (no room in their stream, a visitor over the flow cap): a read burst's `DatagramTally`.
    public func addDatagrams(_ direction: TrafficDirection, count: Int, bytes: Int, dropped: Int = 0) {
        if count > 0 {
            switch direction {
            case .inbound:
                self.datagramsIn.add(count, ordering: .relaxed)
                self.series.datagramsIn.increment(by: count)
                self.addInbound(bytes)
            case .outbound:
                self.datagramsOut.add(count, ordering: .relaxed)
                self.series.datagramsOut.increment(by: count)
                self.addOutbound(bytes)
            }
        }
        if dropped > 0 {
            self.datagramsDropped.add(dropped, ordering: .relaxed)
            self.series.datagramsDropped.increment(by: dropped)
        }
    }

    /// The local service could not be reached for a visitor (the client's meters).
    public func localConnectFailed() {
        self.localConnectFailures.add(1, ordering: .relaxed)
        self.series.localConnectFailures?.increment()
    }
}

/// The datagrams of one read burst, one way: counted as they pass (plain integers, on the event
/// loop) and added to a meter once, when the burst ends.
public struct DatagramTally: Sendable {
    public let direction: TrafficDirection
    private var count = 0
    private var bytes = 0
    private var dropped = 0

    public init(_ direction: TrafficDirection) {
        self.direction = direction
    }

    public mutating func carried(_ bytes: Int) {
        self.count += 1
        self.bytes += bytes
    }

    public mutating func drop() {
        self.dropped += 1
    }

    /// Adds what was counted to `meter` and starts again; false when there was nothing.
    @discardableResult
    public mutating func report(to meter: ProxyMeter?) -> Bool {
        guard self.count > 0 || self.dropped > 0 else { return false }
        meter?.addDatagrams(self.direction, count: self.count, bytes: self.bytes, dropped: self.dropped)
        (self.count, self.bytes, self.dropped) = (0, 0, 0)
        return true
    }
}
