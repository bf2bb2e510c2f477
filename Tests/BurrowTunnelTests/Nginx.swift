import BurrowTestSupport
import Foundation

/// A real nginx (Debian's package) started by the test on loopback with a generated config: a
/// reverse proxy in front of the server's WebSocket listener, as users deploy it.
struct Nginx {
    let process: PeerProcess
    let port: Int

    /// One `server` block: requests for `path` on `serverName` go to `upstreamPort` with the
    /// headers a WebSocket upgrade needs. With `certificates`, nginx terminates TLS.
    struct Site {
        var serverName = "localhost"
        var path = TunnelHarness.webSocketPath
        var upstreamPort: Int
        /// nginx closes a proxied connection silent for this long: what keepalives are for.
        var readTimeout = "60s"
    }

    static func start(in directory: URL, sites: [Site], certificates: TestCertificates? = nil) async throws -> Nginx {
        let root = directory.appendingPathComponent("nginx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let port = try await TunnelHarness.freePorts(1)[0]
        let listen = certificates == nil ? "127.0.0.1:\(port)" : "127.0.0.1:\(port) ssl"
        let tls = certificates.map { "ssl_certificate \($0.serverCertificate);\n    ssl_certificate_key \($0.serverKey);" } ?? ""
        // Requests for no configured name land in a default server that answers 404.
        let servers = ["""
              server {
                listen \(listen) default_server;
                \(tls)
                return 404;
              }
            """] + sites.map { site in
            """
              server {
                listen \(listen);
                server_name \(site.serverName);
                \(tls)
                location = \(site.path) {
                  proxy_pass http://127.0.0.1:\(site.upstreamPort);
                  proxy_http_version 1.1;
                  proxy_set_header Upgrade $http_upgrade;
                  proxy_set_header Connection "upgrade";
                  proxy_set_header Host $host;
                  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                  proxy_read_timeout \(site.readTimeout);
                  proxy_send_timeout \(site.readTimeout);
                }
              }
            """
        }
        let temp = root.path
        let config = """
            daemon off;
            master_process off;
            worker_processes 1;
            pid \(temp)/nginx.pid;
            error_log stderr notice;
            events { worker_connections 512; }
            http {
              access_log off;
              client_body_temp_path \(temp)/body;
              proxy_temp_path \(temp)/proxy;
              fastcgi_temp_path \(temp)/fastcgi;
              uwsgi_temp_path \(temp)/uwsgi;
              scgi_temp_path \(temp)/scgi;
            \(servers.joined(separator: "\n"))
            }
            """
        let path = root.appendingPathComponent("nginx.conf").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        // One process (no master and workers), so ending it by PID ends nginx.
        let process = try PeerProcess("/usr/sbin/nginx", ["-c", path, "-p", temp + "/", "-e", "stderr"], mergeStandardError: true)
        // nginx opens its listening sockets before it reports the resource limits.
        _ = try await process.line(containing: "getrlimit")
        return Nginx(process: process, port: port)
    }
}
