// The composition root of `smtp-probe coordinator`: logger, caller authentication, the
// coordinator (coordinator.ts), the metrics port; on SIGTERM it drains. The command line resolves
// the settings (COORDINATOR_SETTINGS, settings.ts) and imports this module only when it runs.
import { createSecureContext } from "node:tls";
import { agentEgressConfig, agentEngineConfig } from "../../agents/probe/settings.js";
import { setLogger } from "@grpc/grpc-js";
import { METRICS_SETTINGS } from "../../lib/common-settings.js";
import { ConfigError, readSettingFile, UnavailableError } from "../../lib/config.js";
import { parseHostPort } from "../../lib/config-schemas.js";
import { formatHostPort } from "../../lib/host-port.js";
import { ListenError, describeListenError } from "../../lib/listen-error.js";
import { createLogger, type Logger } from "../../lib/logger.js";
import { startMetricsServer } from "../../lib/metrics-server.js";
import { untilShutdown, type ProcessDeps } from "../../lib/process.js";
import { checkAuthSettings, parseTokenFile } from "./caller-auth.js";
import { monitorMetricsRoute } from "./http/monitor-metrics-route.js";
import { probeExporterRoute } from "./http/probe-exporter.js";
import { HttpListenError, startCoordinator, type CoordinatorConfig, type RunningCoordinator } from "./coordinator.js";
import { COORDINATOR_SETTINGS, type CoordinatorSettings } from "./settings.js";
import { throttleLimits } from "./throttle-settings.js";

/**
 * Serves the gRPC API and the HTTP listener until the shutdown signal, then drains. An address that
 * cannot be bound is an UnavailableError naming --listen, --http-listen or --metrics-listen (exit
 * code 69); a shutdown while NATS has not answered yet ends the start quietly.
 */
export async function runCoordinator(s: CoordinatorSettings, deps: ProcessDeps): Promise<void> {
  const logger = createLogger({ name: "coordinator", level: s.logLevel });
  routeGrpcLogs(logger);
  const listen = parseHostPort(s.listen, { allowZero: true })!;
  // Checked and read before anything starts or binds: a wrong setting stops the process (exit 2).
  checkAuthSettings({ listenHost: listen.host, tlsCert: s.tlsCert, tlsKey: s.tlsKey, clientCa: s.clientCa, authTokens: s.authTokens });
  // The HTTP listener takes the same callers as gRPC, so the same rules hold for its address.
  const http = s.httpListen ? parseHostPort(s.httpListen, { allowZero: true })! : undefined;
  if (http) checkAuthSettings({ listenHost: http.host, listenFlag: COORDINATOR_SETTINGS.httpListen.flag, tlsCert: s.tlsCert, tlsKey: s.tlsKey, clientCa: s.clientCa, authTokens: s.authTokens });
  if (s.scrapeProbes && !s.metricsListen) throw new ConfigError(COORDINATOR_SETTINGS.scrapeProbes.flag, "serves /probe on the metrics port: give --metrics-listen HOST:PORT too");
  if (s.scrapeMonitors && !s.metricsListen) throw new ConfigError(COORDINATOR_SETTINGS.scrapeMonitors.flag, "adds the monitors' series to the metrics port's /metrics: give --metrics-listen HOST:PORT too");
  if (s.scrapeMonitors && !s.nats) throw new ConfigError(COORDINATOR_SETTINGS.scrapeMonitors.flag, "monitors need NATS with JetStream: give --nats URL too (an embedded coordinator has none)");
  const auth = await readAuthFiles(s);
  const embedded = { ...(await agentEngineConfig(s)), ...agentEgressConfig(s) };
  let coordinator: RunningCoordinator | undefined;
  // First, so that /healthz answers and /readyz says "not ready" while NATS is awaited; /probe
  // (Prometheus's multi-target probes) answers 503 until the coordinator is composed.
  // With --scrape-monitors, /metrics is answered here with the monitors' series after the process's.
  const routes = [
    ...(s.scrapeProbes ? [probeExporterRoute({ operations: () => coordinator?.operations })] : []),
    ...(s.scrapeMonitors ? [monitorMetricsRoute(() => coordinator?.monitorMetrics)] : []),
  ];
  const metricsServer = s.metricsListen
    ? await startMetricsServer({ listen: s.metricsListen, ready: () => coordinator?.ready() ?? false, routes }).catch((error: unknown) => {
        throw unavailableListen(error, METRICS_SETTINGS.metricsListen);
      })
    : undefined;
  if (metricsServer) {
    const what = `metrics${s.scrapeMonitors ? " and the monitors' series" : ""} served on /metrics${s.scrapeProbes ? ", probes for Prometheus on /probe" : ""}`;
    logger.info({ metricsPort: metricsServer.port, scrapeProbes: s.scrapeProbes, scrapeMonitors: s.scrapeMonitors }, what);
  }
  try {
    coordinator = await startCoordinator(
      {
        host: listen.host,
        port: listen.port,
        http,
        nats: s.nats
          ? { servers: s.nats, credsFile: s.natsCreds, user: s.natsUser, passwordFile: s.natsPasswordFile, tls: s.natsCa || s.natsCert ? { caFile: s.natsCa, certFile: s.natsCert, keyFile: s.natsKey } : undefined }
          : undefined,
        maxDeadlineMs: s.maxDeadline,
        heartbeatMs: s.heartbeat,
        reportTtlMs: s.reportTtl,
        reportStoreBytes: s.reportStoreBytes,
        batch: { concurrency: s.batchConcurrency, maxTargets: s.maxBatchTargets, maxQueuedItems: s.batchQueueItems },
        monitors: { minIntervalMs: s.monitorMinInterval, maxMonitors: s.maxMonitors, maxMonitorsPerCaller: s.maxMonitorsPerCaller },
        monitorSeries: s.scrapeMonitors,
        quotas: {
          callerExecutionsPerMinute: s.callerExecutionsPerMinute,
          callerExecutionsInFlight: s.callerExecutionsInFlight,
          maxExecutionsInFlight: s.maxExecutionsInFlight,
        },
        allowCidrs: s.allowCidr,
        allowNames: s.allowName,
        allowPorts: s.allowPorts,
        throttle: throttleLimits(s),
        denyList: s.denyList ? { file: s.denyList, reloadOnSighup: true } : undefined,
        embedded,
        version: deps.version,
        auth,
      },
      logger,
      { shutdown: deps.shutdown },
    );
  } catch (error) {
    await metricsServer?.close();
    if (deps.shutdown.aborted) {
      logger.info("stopped before NATS answered");
      return;
    }
    throw unavailableListen(error, error instanceof HttpListenError ? COORDINATOR_SETTINGS.httpListen : COORDINATOR_SETTINGS.listen);
  }
  if (coordinator.http) logger.info({ httpPort: coordinator.http.port }, `the page and the HTTP/JSON API on ${coordinator.http.scheme}://${formatHostPort(http!.host, coordinator.http.port)}/`);
  await untilShutdown(deps.shutdown);
  logger.info({ graceMs: s.grace }, "shutting down");
  await coordinator.stop(s.grace);
  await metricsServer?.close();
  logger.info("stopped");
}

/** A ListenError as the UnavailableError naming the setting of that address; anything else as it is. */
function unavailableListen(error: unknown, setting: { flag: string; env: string }): unknown {
  return error instanceof ListenError ? new UnavailableError(setting.flag, describeListenError(error, setting), { cause: error }) : error;
}

/**
 * grpc-js logs, to stderr, what it then reports to us as an error (a failed bind: "No address
 * added out of total 1 resolved"); the coordinator reports those itself, once, in its own words.
 * Its lines go to the log at debug level.
 */
function routeGrpcLogs(logger: Logger): void {
  const debug = (...args: unknown[]): void => logger.debug({ component: "grpc-js" }, args.map(String).join(" "));
  setLogger({ error: debug, info: debug, debug });
}

/** Reads the certificate, key, client CA and token files; any problem is a ConfigError naming the flag. */
async function readAuthFiles(s: { tlsCert?: string; tlsKey?: string; clientCa?: string; authTokens?: string }): Promise<CoordinatorConfig["auth"]> {
  const read = readSettingFile;
  const tokens = s.authTokens ? parseTokenFile(await read("--auth-tokens", s.authTokens), s.authTokens) : undefined;
  let tls: NonNullable<CoordinatorConfig["auth"]>["tls"];
  if (s.tlsCert && s.tlsKey) {
    tls = { certPem: await read("--tls-cert", s.tlsCert), keyPem: await read("--tls-key", s.tlsKey) };
    if (s.clientCa) tls.clientCaPem = await read("--client-ca", s.clientCa);
    try {
      createSecureContext({ cert: tls.certPem, key: tls.keyPem });
    } catch (error) {
      throw new ConfigError("--tls-cert", `${s.tlsCert} and ${s.tlsKey} are not a PEM certificate and its key: ${(error as Error).message}`);
    }
    try {
      if (tls.clientCaPem !== undefined) createSecureContext({ ca: tls.clientCaPem });
    } catch (error) {
      throw new ConfigError("--client-ca", `${s.clientCa} is not a PEM CA certificate: ${(error as Error).message}`);
    }
  }
  return tokens || tls ? { tokens, tls } : undefined;
}
