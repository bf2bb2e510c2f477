import ArgumentParser
import BurrowConfig
import BurrowCore
import BurrowTransport
import FoundationEssentials
import Logging
import NIOCore
import NIOPosix

/// What `burrow server` and `burrow client` do for the admin API and SIGHUP: read the config
/// (the file, or TOML sent to the API), and either say what a reload would change (`/adapt`)
/// or apply it (`/reload`, SIGHUP). A config with any problem changes nothing.
struct AdminAPI<Config: Sendable>: Sendable {
    /// Where the config file is (`-c`).
    let file: String
    let parse: @Sendable (_ bytes: [UInt8], _ file: String, _ environment: [String: String]) throws -> Config
    /// What a reload to the config would change, without changing it; throws what it would
    /// refuse.
    let adapt: @Sendable (Config) async throws -> ReloadReport
    /// Applies the config; returns what changed, or throws why nothing did.
    let reload: @Sendable (Config) async throws -> ReloadReport
    /// The configuration in force, as TOML with secrets redacted (`/now`).
    let now: @Sendable () -> String
    /// The `/status` document.
    let status: @Sendable () async -> any Encodable & Sendable
    /// Where `/metrics` comes from: the process's metrics, exported.
    let metrics: PrometheusExport
    /// Stops as SIGTERM does.
    let stop: @Sendable () -> Void
    let logger: Logger

    /// Reloads on SIGHUP, and starts the API when `[admin]` is set (logging where it listens).
    /// When the API cannot listen, logs why, runs `onFailure` and exits 1.
    func start(_ settings: AdminSettings?, onFailure: () async -> Void = {}) async throws -> AdminServer? {
        Signals.onReload { Task { await self.reloadFromFile(because: "SIGHUP") } }
        guard let settings else { return nil }
        do {
            return try await self.listen(settings)
        } catch {
            self.logger.critical("cannot start the admin API on \(settings.bind): \(ErrorText.explain(error))")
            await onFailure()
            throw ExitCode(1)
        }
    }

    private func listen(_ settings: AdminSettings) async throws -> AdminServer {
        let server = try await AdminServer.start(
            host: settings.bind.host, port: settings.bind.port, token: settings.token?.value, group: MultiThreadedEventLoopGroup.singleton,
            logger: self.logger
        ) { route, body in await self.handle(route, body: body) }
        let address = server.localAddress.map { "\($0.ipAddress ?? settings.bind.host):\($0.port ?? settings.bind.port)" } ?? "\(settings.bind)"
        self.logger.info("admin API on http://\(address) (\(settings.token == nil ? "no token: loopback only" : "bearer token required"))")
        return server
    }

    /// Reloads from the file, as SIGHUP asks: a line names the cause, and the reload's own line
    /// says what changed, or this one why nothing did.
    func reloadFromFile(because reason: String) async {
        self.logger.info("\(reason): reloading \(self.file)")
        switch self.read(body: nil) {
        case .success(let config):
            do {
                _ = try await self.reload(config)
            } catch {
                self.logger.error("\(reason): \(self.file) not reloaded, nothing changed: \(error)")
            }
        case .failure(let problems):
            self.logger.error("\(reason): \(self.file) not reloaded, nothing changed: \(problems.description.split(separator: "\n").joined(separator: "; "))")
        }
    }

    private func handle(_ route: AdminServer.Route, body: String?) async -> AdminServer.Response {
        switch route {
        case .dashboard:
            return AdminServer.Response(contentType: "text/html; charset=utf-8", body: DashboardPage.html)
        case .status:
            return Self.json(await self.status())
        case .metrics:
            return AdminServer.Response(contentType: PrometheusExport.contentType, body: self.metrics.render())
        case .now(let json):
            let toml = self.now()
            guard json else { return AdminServer.Response(contentType: "application/toml", body: toml) }
            guard let table = try? TOMLParser.parse(toml) else { return .text(.internalServerError, "cannot read the running configuration back") }
            return Self.json(table)
        case .adapt, .reload:
            switch self.read(body: body) {
            case .failure(let problems):
                return .text(.unprocessableEntity, "nothing changed: \(problems.description)")
            case .success(let config):
                do {
                    return Self.json(route == .adapt ? try await self.adapt(config) : try await self.reload(config))
                } catch {
                    return .text(.unprocessableEntity, "nothing changed: \(error)")
                }
            }
        case .stop:
            self.stop()
            return .text(.ok, "stopping")
        }
    }

    /// The config in the request body, or else the file, validated.
    private func read(body: String?) -> Result<Config, ConfigProblems> {
        let environment = ProcessInfo.processInfo.environment
        do {
            if let body, !body.isEmpty {
                return .success(try self.parse(Array(body.utf8), "request body", environment))
            }
            return .success(try self.parse(try ConfigFile.bytes(self.file), self.file, environment))
        } catch let error as ConfigError {
            return .failure(ConfigProblems(description: error.description))
        } catch {
            return .failure(ConfigProblems(description: "\(error)"))
        }
    }

    private static func json(_ value: any Encodable) -> AdminServer.Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return .text(.internalServerError, "cannot encode the answer") }
        return AdminServer.Response(body: String(decoding: data, as: UTF8.self) + "\n")
    }
}

/// Why a config was not taken: every problem, as `burrow check` prints them.
struct ConfigProblems: Error, CustomStringConvertible {
    let description: String
}
