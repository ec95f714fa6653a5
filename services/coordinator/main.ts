import { Command } from "commander";
import { createSecureContext } from "node:tls";
import { addSettingFlags, ConfigError, readSettingFile, resolveSettings, type Settings } from "../../lib/config.js";
import { duration, integer, listenAddress, optionalText, parseHostPort } from "../../lib/config-schemas.js";
import { ENGINE_SETTINGS, LOG_SETTINGS, NATS_SETTINGS, natsUrlSetting, POLICY_SETTINGS, readCaFileSetting } from "../../lib/common-settings.js";
import { HEARTBEAT_BOUNDS } from "../../lib/bus.js";
import { createLogger } from "../../lib/logger.js";
import { METRICS_SETTINGS, startMetricsServer } from "../../lib/metrics-server.js";
import { untilShutdown, type ProcessDeps } from "../../lib/process.js";
import { checkAuthSettings, parseTokenFile } from "./caller-auth.js";
import type { CoordinatorConfig } from "./coordinator.js";
import { THROTTLE_SETTINGS, throttleLimits } from "./throttle-settings.js";

export const COORDINATOR_SETTINGS = {
  listen: {
    flag: "--listen",
    env: "SMTP_PROBE_LISTEN",
    placeholder: "HOST:PORT",
    default: "127.0.0.1:50051",
    description: "address the gRPC API listens on (port 0: any free port, logged at start)",
    schema: listenAddress,
  },
  tlsCert: { flag: "--tls-cert", env: "SMTP_PROBE_TLS_CERT", placeholder: "FILE", description: "serve the gRPC API over TLS with this certificate chain (PEM); needs --tls-key", schema: optionalText },
  tlsKey: { flag: "--tls-key", env: "SMTP_PROBE_TLS_KEY", placeholder: "FILE", description: "the private key of --tls-cert (PEM)", schema: optionalText },
  clientCa: {
    flag: "--client-ca",
    env: "SMTP_PROBE_CLIENT_CA",
    placeholder: "FILE",
    description: "mutual TLS: callers must present a certificate issued by this CA (PEM); its subject CN, else its first DNS name, names the caller. Needs --tls-cert",
    schema: optionalText,
  },
  authTokens: {
    flag: "--auth-tokens",
    env: "SMTP_PROBE_AUTH_TOKENS",
    placeholder: "FILE",
    description: "bearer tokens, one \"TOKEN CALLER-NAME\" per line (# comments; tokens of 16 characters or more); in plaintext only on a loopback address",
    schema: optionalText,
  },
  nats: natsUrlSetting(false),
  ...NATS_SETTINGS,
  maxDeadline: {
    flag: "--max-deadline",
    env: "SMTP_PROBE_MAX_DEADLINE",
    placeholder: "DURATION",
    default: "120s",
    description: "callers' deadlines are clamped to this",
    schema: duration,
  },
  heartbeat: {
    flag: "--heartbeat",
    env: "SMTP_PROBE_HEARTBEAT",
    placeholder: "DURATION",
    default: "1s",
    description: "how often agents report progress (50ms to 60s); an agent silent for 3 of these is lost",
    schema: duration.refine((ms) => ms >= HEARTBEAT_BOUNDS.minMs && ms <= HEARTBEAT_BOUNDS.maxMs, "must be between 50ms and 60s (what agents send)"),
  },
  grace: {
    flag: "--grace",
    env: "SMTP_PROBE_GRACE",
    placeholder: "DURATION",
    default: "10s",
    description: "on SIGTERM: health NOT_SERVING and new calls refused at once; running calls may finish for this long, then get UNAVAILABLE",
    schema: duration,
  },
  reportTtl: { flag: "--report-ttl", env: "SMTP_PROBE_REPORT_TTL", placeholder: "DURATION", default: "24h", description: "how long reports are kept for GetProbe", schema: duration },
  reportStoreBytes: {
    flag: "--report-store-bytes",
    env: "SMTP_PROBE_REPORT_STORE_BYTES",
    placeholder: "BYTES",
    default: "268435456",
    description: "size bound of the JetStream KV bucket of reports",
    schema: integer(1024 * 1024, 2 ** 40),
  },
  // Quotas in probe executions (regions × ports; caller-quota.ts). Defaults: a quarter of the
  // coordinator-wide bound per caller, so four callers at full width fit; 12,000 a minute is 200
  // a second sustained with a minute's worth as a burst, above what the embedded mode or a small
  // deployment serves, so one caller alone is bounded by in-flight, not by rate. The coordinator
  // bound keeps its memory bounded (a running execution holds its task and, at the end, its result
  // with a transcript of up to 256 KiB by default). 0 turns a limit off. Per-caller overrides are
  // not offered yet: every caller has the same limits.
  callerExecutionsPerMinute: {
    flag: "--caller-executions-per-minute",
    env: "SMTP_PROBE_CALLER_EXECUTIONS_PER_MINUTE",
    placeholder: "N",
    default: "12000",
    description: "probe executions (regions × ports) one caller may start per minute, a minute's worth at once at most; beyond: RESOURCE_EXHAUSTED with RetryInfo; 0: no limit",
    schema: integer(0, 100_000_000),
  },
  callerExecutionsInFlight: {
    flag: "--caller-executions-in-flight",
    env: "SMTP_PROBE_CALLER_EXECUTIONS_IN_FLIGHT",
    placeholder: "N",
    default: "512",
    description: "probe executions one caller may have running at once; 0: no limit",
    schema: integer(0, 10_000_000),
  },
  maxExecutionsInFlight: {
    flag: "--max-executions-in-flight",
    env: "SMTP_PROBE_MAX_EXECUTIONS_IN_FLIGHT",
    placeholder: "N",
    default: "2048",
    description: "probe executions of all callers running at once; beyond it calls are refused at once (RESOURCE_EXHAUSTED), never queued; 0: no limit",
    schema: integer(0, 10_000_000),
  },
  ...POLICY_SETTINGS,
  ...THROTTLE_SETTINGS,
  ...ENGINE_SETTINGS,
  ...METRICS_SETTINGS,
  ...LOG_SETTINGS,
} satisfies Settings;

/** `smtp-probe coordinator`: serves the gRPC API until SIGTERM, then drains. */
export function coordinatorCommand(deps: ProcessDeps): Command {
  const command = new Command("coordinator").description(
    "serve the gRPC API; with --nats, dispatch to agents over NATS, else run embedded with one agent as region local",
  );
  addSettingFlags(command, COORDINATOR_SETTINGS);
  command.action(async (flags: Record<string, unknown>) => {
    const s = resolveSettings(COORDINATOR_SETTINGS, flags, deps.env);
    const logger = createLogger({ name: "coordinator", level: s.logLevel });
    const listen = parseHostPort(s.listen, { allowZero: true })!;
    // Checked and read before anything starts or binds: a wrong setting stops the process (exit 2).
    checkAuthSettings({ listenHost: listen.host, tlsCert: s.tlsCert, tlsKey: s.tlsKey, clientCa: s.clientCa, authTokens: s.authTokens });
    const auth = await readAuthFiles(s);
    const { startCoordinator } = await import("./coordinator.js");
    const coordinator = await startCoordinator(
      {
        host: listen.host,
        port: listen.port,
        nats: s.nats
          ? { servers: s.nats, credsFile: s.natsCreds, user: s.natsUser, passwordFile: s.natsPasswordFile, tls: s.natsCa || s.natsCert ? { caFile: s.natsCa, certFile: s.natsCert, keyFile: s.natsKey } : undefined }
          : undefined,
        maxDeadlineMs: s.maxDeadline,
        heartbeatMs: s.heartbeat,
        reportTtlMs: s.reportTtl,
        reportStoreBytes: s.reportStoreBytes,
        quotas: {
          callerExecutionsPerMinute: s.callerExecutionsPerMinute,
          callerExecutionsInFlight: s.callerExecutionsInFlight,
          maxExecutionsInFlight: s.maxExecutionsInFlight,
        },
        allowCidrs: s.allowCidr,
        allowPorts: s.allowPorts,
        allowNames: s.allowName,
        throttle: throttleLimits(s),
        denyList: s.denyList ? { file: s.denyList, reloadOnSighup: true } : undefined,
        embedded: {
          concurrency: s.concurrency,
          canaries: s.canary.map((c) => parseHostPort(c)!),
          canaryIntervalMs: s.canaryInterval,
          canaryDeadlineMs: s.canaryTimeout,
          ehloName: s.ehloName,
          dnsServers: s.dnsServer,
          extraCa: s.caFile ? await readCaFileSetting(s.caFile) : undefined,
        },
        version: deps.version,
        auth,
      },
      logger,
    );
    const metricsServer = s.metricsListen ? await startMetricsServer({ listen: s.metricsListen, ready: () => coordinator.ready() }) : undefined;
    if (metricsServer) logger.info({ metricsPort: metricsServer.port }, "metrics served on /metrics");
    await untilShutdown(deps.shutdown);
    logger.info({ graceMs: s.grace }, "shutting down");
    await coordinator.stop(s.grace);
    await metricsServer?.close();
    logger.info("stopped");
  });
  return command;
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
