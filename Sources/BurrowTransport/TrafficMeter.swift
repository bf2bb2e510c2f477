/// Counts what crosses one proxy: the bytes each way, and the streams that ended in an abort.
/// The glue between a visitor and its service reports to it, once per read burst rather than
/// once per frame, so counting stays off the per-byte path. What it counts into (atomics for
/// `/status`, metrics) is the owner's business.
public protocol TrafficMeter: AnyObject, Sendable {
    /// Bytes from the visitor toward the service ("in").
    func addInbound(_ bytes: Int)
    /// Bytes from the service toward the visitor ("out").
    func addOutbound(_ bytes: Int)
    /// A visitor's connection or stream ended in an abort (a reset, an error) instead of a
    /// clean close.
    func noteAbort()
}

/// Which way a glued side's reads go, for its meter.
public enum TrafficDirection: Sendable {
    /// The side reads what the visitor sends.
    case inbound
    /// The side reads what the service sends.
    case outbound
}
