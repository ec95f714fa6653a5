
import { checkCaPem } from "./ca-pem.js";
import { ConfigError, readSettingFile, type Setting } from "./config.js";
import { dnsServerList, duration, hostPortList, integer, listenAddress, logLevel, natsUrl, optionalText, portList, textList } from "./config-schemas.js";
import { parseHostName } from "./host-name.js";

/** A name --allow-name can allow: a host name, not an IP address (--allow-cidr allows those). */
function isHostName(value: string): boolean {
  const parsed = parseHostName(value);
  return parsed.ok && !parsed.isIpLiteral;
}

/** Settings the coordinator and the agents share: NATS, the target policy, the engine, the metrics port, logs. */
export const NATS_SETTINGS = {
  natsCreds: {
    flag: "--nats-creds",
    env: "SMTP_PROBE_NATS_CREDS",
    placeholder: "FILE",
    description: "NATS credentials file (JWT and NKey seed)",
    schema: optionalText,
  },
  natsUser: {
    flag: "--nats-user",
    env: "SMTP_PROBE_NATS_USER",
    placeholder: "NAME",
    description: "NATS user, for servers with users in their configuration (deploy/nats/); needs --nats-password-file",
    schema: optionalText,
  },
  natsPasswordFile: {
    flag: "--nats-password-file",
    env: "SMTP_PROBE_NATS_PASSWORD_FILE",
    placeholder: "FILE",
    description: "file holding the NATS user's password (a mounted secret, so it never shows in ps)",
    schema: optionalText,
  },
  natsCa: { flag: "--nats-ca", env: "SMTP_PROBE_NATS_CA", placeholder: "FILE", description: "CA file to verify the NATS server's TLS certificate", schema: optionalText },
  natsCert: { flag: "--nats-cert", env: "SMTP_PROBE_NATS_CERT", placeholder: "FILE", description: "client certificate for NATS mutual TLS", schema: optionalText },
  natsKey: { flag: "--nats-key", env: "SMTP_PROBE_NATS_KEY", placeholder: "FILE", description: "client key for NATS mutual TLS", schema: optionalText },
} satisfies Record<string, Setting<unknown>>;

export const POLICY_SETTINGS = {
  allowCidr: {
    flag: "--allow-cidr",
    env: "SMTP_PROBE_ALLOW_CIDRS",
    placeholder: "CIDR",
    repeatable: true,
    description: "allow targets in this range although the policy denies it (private, loopback, ...); repeatable",
    schema: textList,
  },
  allowPorts: {
    flag: "--allow-ports",
    env: "SMTP_PROBE_ALLOW_PORTS",
    placeholder: "PORTS",
    repeatable: true,
    default: "25,465,587,2525",
    description: "the only ports that may be probed",
    schema: portList,
  },
  allowName: {
    flag: "--allow-name",
    env: "SMTP_PROBE_ALLOW_NAMES",
    placeholder: "NAME",
    repeatable: true,
    description:
      "allow this special-use name although the policy refuses it (localhost, *.localhost, *.invalid, *.local, *.onion, *.internal, *.home.arpa); exactly this name, not the names under it; repeatable",
    schema: textList.refine((names) => names.every(isHostName), "must be host names, not IP addresses (--allow-cidr allows addresses)"),
  },
  denyList: {
    flag: "--deny-list",
    env: "SMTP_PROBE_DENY_LIST",
    placeholder: "FILE",
    description: "operator's deny list: domains (with their subdomains) and addresses/CIDRs, one a line (# comments); wins over --allow-cidr; reloaded when the file changes and on SIGHUP",
    schema: optionalText,
  },
} satisfies Record<string, Setting<unknown>>;

export const ENGINE_SETTINGS = {
  ehloName: {
    flag: "--ehlo-name",
    env: "SMTP_PROBE_EHLO_NAME",
    placeholder: "NAME",
    description: "EHLO name when a request names none (default: the FQDN, else an address literal)",
    schema: optionalText,
  },
  dnsServer: {
    flag: "--dns-server",
    env: "SMTP_PROBE_DNS_SERVERS",
    placeholder: "IP[:PORT]",
    repeatable: true,
    description: "resolve targets, and mail domains' MTA-STS, TLS-RPT and TLSA records, with these DNS servers (default: the system's); DANE believes TLSA records only when the server validates DNSSEC (AD flag); repeatable",
    schema: dnsServerList,
  },
  caFile: { flag: "--ca-file", env: "SMTP_PROBE_CA_FILE", placeholder: "FILE", description: "extra CA certificates (PEM) trusted when checking targets' chains and MTA-STS policy hosts", schema: optionalText },
  concurrency: { flag: "--concurrency", env: "SMTP_PROBE_CONCURRENCY", placeholder: "N", default: "32", description: "probes an agent runs at once; more wait", schema: integer(1, 10_000) },
  canary: {
    flag: "--canary",
    env: "SMTP_PROBE_CANARIES",
    placeholder: "HOST:PORT",
    repeatable: true,
    description: "egress canary: a target the agent checks its own outbound connections against, per port; repeatable",
    schema: hostPortList,
  },
  canaryTimeout: {
    flag: "--canary-timeout",
    env: "SMTP_PROBE_CANARY_TIMEOUT",
    placeholder: "DURATION",
    default: "10s",
    description: "deadline of one canary check (at most 10s)",
    schema: duration.refine((ms) => ms >= 1 && ms <= 10_000, "must be between 1ms and 10s"),
  },
  canaryInterval: { flag: "--canary-interval", env: "SMTP_PROBE_CANARY_INTERVAL", placeholder: "DURATION", default: "60s", description: "how often canaries are checked", schema: duration },
} satisfies Record<string, Setting<unknown>>;

/** The HTTP port of /metrics, /healthz and /readyz (lib/metrics-server.ts). */
export const METRICS_SETTINGS = {
  metricsListen: {
    flag: "--metrics-listen",
    env: "SMTP_PROBE_METRICS_LISTEN",
    placeholder: "HOST:PORT",
    description: "serve /metrics (Prometheus), /healthz and /readyz over HTTP on this address (default: not served)",
    schema: listenAddress.optional(),
  },
} satisfies Record<string, Setting<unknown>>;

export const LOG_SETTINGS = {
  logLevel: { flag: "--log-level", env: "SMTP_PROBE_LOG_LEVEL", placeholder: "LEVEL", default: "info", description: "fatal, error, warn, info, debug, trace or silent", schema: logLevel },
} satisfies Record<string, Setting<unknown>>;

export const natsUrlSetting = (required: boolean) =>
  ({
    flag: "--nats",
    env: "SMTP_PROBE_NATS_URL",
    placeholder: "URL",
    description: required ? "NATS server URL(s), comma-separated" : "NATS server URL(s); without it the coordinator runs embedded, with one agent in-process as region local",
    schema: required ? natsUrl.refine((v) => v !== undefined, "is required") : natsUrl,
  }) satisfies Setting<unknown>;


/** --ca-file of the coordinator and the agent: read and checked at start-up, or a ConfigError naming the flag. */
export async function readCaFileSetting(file: string): Promise<string> {
  const checked = checkCaPem(await readSettingFile("--ca-file", file));
  if ("problem" in checked) throw new ConfigError("--ca-file", `${file} ${checked.problem}`);
  return checked.pem;
}
