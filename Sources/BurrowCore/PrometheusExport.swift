import CoreMetrics
import Prometheus

/// Burrow's metrics as `/metrics` serves them, in Prometheus's text format: a registry of its
/// own (one per server or client, so tests running several in one process never mix), filled
/// through swift-metrics by `factory`.
public final class PrometheusExport: Sendable {
    private let registry = PrometheusCollectorRegistry()

    public init() {}

    /// The swift-metrics factory to make Burrow's metrics with.
    public var factory: any MetricsFactory { HelpfulPrometheusFactory(registry: self.registry) }

    /// Every series, in the text exposition format (version 0.0.4).
    public func render() -> String {
        self.registry.emitToString()
    }

    /// The content type of `render()`'s text.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

/// swift-prometheus's own factory registers what swift-metrics makes without a help line; this
/// one gives each metric the help line of its `Metric`, so `# HELP` tells a reader of the
/// scrape (and `promtool check metrics`) what it counts. Burrow makes counters, meters and
/// gauges only; aggregating recorders and timers, which it does not use, go to the stock
/// factory.
private struct HelpfulPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private var stock: PrometheusMetricsFactory { PrometheusMetricsFactory(registry: self.registry) }

    /// The metric `label` names, with its help line.
    private static func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: Metric.helpByName[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        self.registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        self.registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        self.registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard !aggregate else { return self.stock.makeRecorder(label: label, dimensions: dimensions, aggregate: true) }
        return self.registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        self.stock.makeTimer(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        self.stock.destroyCounter(handler)
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        self.stock.destroyFloatingPointCounter(handler)
    }

    func destroyMeter(_ handler: any MeterHandler) {
        self.stock.destroyMeter(handler)
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        self.stock.destroyRecorder(handler)
    }

    func destroyTimer(_ handler: any TimerHandler) {
        self.stock.destroyTimer(handler)
    }
}
