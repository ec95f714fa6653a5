// The settings of `smtp-probe coordinator` (flags and SMTP_PROBE_* variables). Light on purpose:
// the command line loads it for --help and the docs read it, without the coordinator.
import { type Settings, type SettingValues } from "../../lib/config.js";
import { duration, integer, listenAddress, optionalText, parseHostPort, Schema } from "../../lib/config-schemas.js";
import { ENGINE_SETTINGS, LOG_SETTINGS, METRICS_SETTINGS, NATS_SETTINGS, natsUrlSetting, POLICY_SETTINGS } from "../../lib/common-settings.js";
import { HEARTBEAT_BOUNDS } from "../../lib/bus.js";
import { EGRESS_SETTINGS } from "../../agents/probe/settings.js";
import { THROTTLE_SETTINGS } from "./throttle-settings.js";

/** A listen address, or "off". */
const listenAddressOrOff = new Schema<string | undefined>((raw) => {
  if (raw === "off") return { value: undefined };
  if (typeof raw === "string" && parseHostPort(raw, { allowZero: true })) return { value: raw };
  return { problem: 'must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080 (port 0: any free port), or "off"' };
});

/** "on" or "off". */
const onOff = new Schema<boolean>((raw) => {
  if (raw === "on") return { value: true };
  if (raw === "off") return { value: false };
  return { problem: 'must be "on" or "off"' };
});

/** Where the HTTP listener is when nothing says otherwise: what `npm start` opens in a browser. */
export const DEFAULT_HTTP_LISTEN = "127.0.0.1:8080";

export const COORDINATOR_SETTINGS = {
  listen: {
    flag: "--listen",
    env: "SMTP_PROBE_LISTEN",
    placeholder: "HOST:PORT",
    default: "127.0.0.1:50051",
    description: "address the gRPC API listens on (port 0: any free port, logged at start)",
    schema: listenAddress,
  },
  httpListen: {
    flag: "--http-listen",
    env: "SMTP_PROBE_HTTP_LISTEN",
    placeholder: "HOST:PORT",
    default: DEFAULT_HTTP_LISTEN,
    description:
      "address of the HTTP listener: the web page, the HTTP/JSON API (/v1/...), /openapi.json, and /metrics, /healthz, /readyz; HTTPS with --tls-cert, callers as on --listen; \"off\": none",
    schema: listenAddressOrOff,
  },
  tlsCert: {
    flag: "--tls-cert",
    env: "SMTP_PROBE_TLS_CERT",
    placeholder: "FILE",
    description: "serve the gRPC API and the HTTP listener over TLS with this certificate chain (PEM); needs --tls-key",
    schema: optionalText,
  },
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
  // Batches (BatchService): their items wait in JetStream, so only these many run in memory.
  batchConcurrency: {
    flag: "--batch-concurrency",
    env: "SMTP_PROBE_BATCH_CONCURRENCY",
    placeholder: "N",
    default: "64",
    description: "batch items this coordinator probes at once (each one a probe of the batch's caller, under its quotas); 0: it probes none (other coordinators do)",
    schema: integer(0, 100_000),
  },
  maxBatchTargets: {
    flag: "--max-batch-targets",
    env: "SMTP_PROBE_MAX_BATCH_TARGETS",
    placeholder: "N",
    default: "10000",
    description: "targets in one CreateBatch at most",
    schema: integer(1, 1_000_000),
  },
  batchQueueItems: {
    flag: "--batch-queue-items",
    env: "SMTP_PROBE_BATCH_QUEUE_ITEMS",
    placeholder: "N",
    default: "100000",
    description: "batch items (and spool jobs) waiting in JetStream's work queue over all batches at most; a batch larger than the room left is refused (UNAVAILABLE, try later)",
    schema: integer(1, 100_000_000),
  },
  monitorMinInterval: {
    flag: "--monitor-min-interval",
    env: "SMTP_PROBE_MONITOR_MIN_INTERVAL",
    placeholder: "DURATION",
    default: "60s",
    description: "the shortest interval a monitor may have (CreateMonitor refuses shorter ones)",
    schema: duration.refine((ms) => ms >= 1000, "must be at least 1s"),
  },
  maxMonitors: {
    flag: "--max-monitors",
    env: "SMTP_PROBE_MAX_MONITORS",
    placeholder: "N",
    default: "10000",
    description: "monitors the coordinators keep at most, over all callers",
    schema: integer(1, 10_000_000),
  },
  maxMonitorsPerCaller: {
    flag: "--max-monitors-per-caller",
    env: "SMTP_PROBE_MAX_MONITORS_PER_CALLER",
    placeholder: "N",
    default: "100",
    description: "monitors one caller keeps at most (CreateMonitor refuses more: RESOURCE_EXHAUSTED)",
    schema: integer(1, 10_000_000),
  },
  ...POLICY_SETTINGS,
  ...THROTTLE_SETTINGS,
  ...ENGINE_SETTINGS,
  ...EGRESS_SETTINGS,
  ...METRICS_SETTINGS,
  // Off by default: the metrics port takes no caller credentials, and the image publishes it on
  // 0.0.0.0 for scrapers, so a probe trigger there is the operator's choice (docs/prometheus.md).
  scrapeProbes: {
    flag: "--scrape-probes",
    env: "SMTP_PROBE_SCRAPE_PROBES",
    placeholder: "on/off",
    default: "off",
    description:
      "on: the --metrics-listen port also serves /probe?target=HOST&port=N&region=R, probes for Prometheus as blackbox_exporter serves them, as caller \"prometheus\" (its quota, the target policy and the throttle apply)",
    schema: onOff,
  },
  // Off by default for the same reason: the series name every caller's monitors (ids and hosts),
  // and the metrics port asks no one who they are (docs/prometheus.md).
  scrapeMonitors: {
    flag: "--scrape-monitors",
    env: "SMTP_PROBE_SCRAPE_MONITORS",
    placeholder: "on/off",
    default: "off",
    description:
      "on: the --metrics-listen port's /metrics also carries every monitor's last run (smtpprobe_monitor_*, labelled by monitor_id and host), whoever's monitor and whichever coordinator ran it; needs --nats",
    schema: onOff,
  },
  ...LOG_SETTINGS,
} satisfies Settings;

export type CoordinatorSettings = SettingValues<typeof COORDINATOR_SETTINGS>;
