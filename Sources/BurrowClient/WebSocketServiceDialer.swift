import BurrowConfig
import BurrowCore
import BurrowTransport
import Logging
import NIOCore

/// A local service that speaks WebSocket (`local = "ws://..."` or `"wss://..."`): each visitor
/// gets a WebSocket connection of its own. The visitor's bytes leave as binary messages; the
/// service's messages, binary or text, become the bytes the visitor reads. A refused upgrade
/// fails the dial with the HTTP status, so the visitor is reset and the line names why.
struct WebSocketServiceDialer: LocalServiceDialer {
    let service: ClientConfig.WebSocketService
    let connectTimeout: TimeAmount

    /// Succeeds once the upgrade is done and bytes can flow; the whole dial, upgrade included,
    /// is bounded by the connect timeout.
    func dial(on loop: EventLoop) -> EventLoopFuture<Channel> {
        let upgraded = loop.makePromise(of: Channel.self)
        let target = DialTarget(self.service.url, tls: self.service.tls, headers: self.service.headers, acceptsText: true)
        // Each callback runs on `loop`; the first outcome wins.
        let outcome = NIOLoopBoundBox(false, eventLoop: loop)
        @Sendable func settle(_ result: Result<Channel, Error>) {
            guard !outcome.value else { return }
            outcome.value = true
            upgraded.completeWith(result)
        }
        let connecting = TransportDialer(target: target, group: loop).connect(
            on: loop, timeout: self.connectTimeout,
            onStream: { channel in settle(.success(channel)) },
            onFailure: { error in settle(.failure(error)) }
        )
        connecting.whenFailure { error in settle(.failure(error)) }
        let timeout = self.connectTimeout
        let deadline = loop.scheduleTask(in: timeout) {
            settle(.failure(BurrowError(.upgradeRefused, "no answer to the WebSocket upgrade within \(timeout.nanoseconds / 1_000_000) ms")))
            connecting.whenSuccess { $0.close(promise: nil) }
        }
        upgraded.futureResult.whenComplete { _ in deadline.cancel() }
        return upgraded.futureResult
    }

    func join(_ stream: Channel, to service: Channel, label: String, logger: Logger, meter: ProxyMeter?) throws {
        try GlueHandler.glue(stream, service, meter: meter)
    }

    var description: String { self.service.url.description }
}
