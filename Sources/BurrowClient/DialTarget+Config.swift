import BurrowConfig
import BurrowTransport

extension DialTarget {
    /// Where and how to reach `url` (the server, or a WebSocket local service): TLS for tls://
    /// and wss:// as `tls` says, and the upgrade request with `headers` for ws:// and wss://.
    /// `acceptsText`: a local service may send text messages, which are bytes too.
    init(_ url: ServerAddress, tls: ClientConfig.TLS, headers: [ClientConfig.WebSocketHeader], acceptsText: Bool = false) {
        let trust = url.scheme.usesTLS ? TLSClientTrust(
            serverName: tls.serverName ?? url.endpoint.host,
            certificateAuthorityFile: tls.certificateAuthority,
            pinnedFingerprint: tls.fingerprint
        ) : nil
        let webSocket = url.scheme.isWebSocket ? DialTarget.WebSocket(
            host: url.httpHost, path: url.path ?? "/", headers: headers.map { ($0.name, $0.value) }, acceptsText: acceptsText
        ) : nil
        self.init(host: url.endpoint.host, port: url.endpoint.port, tls: trust, webSocket: webSocket)
    }
}
