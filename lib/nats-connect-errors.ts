// Why a first connection to NATS failed, for a person, and whether trying again can help. Pure:
// it reads the error's code (nats.js's ErrorCode, or Node's errno and TLS codes), never its text.
//
// NATS not answering yet (refused, timed out, name not found) is normal when a region comes up
// before NATS does: the process waits and says so. Credentials refused, TLS that does not work and
// a credentials file that is not one do not get better by waiting: the process stops and names the
// setting to fix.
import { ConfigError, UnavailableError } from "./config.js";

/** What connectNatsBus knows about the attempt: the servers and the settings used. */
export interface NatsConnectContext {
  servers: string;
  credsFile?: string;
  user?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export type NatsConnectVerdict =
  /** NATS is not there (yet): try again; `problem` says what was seen ("connection refused"). */
  | { retry: true; problem: string }
  /** Waiting will not help: this error names the setting to fix. */
  | { retry: false; error: ConfigError | UnavailableError };

const NATS_URL = "--nats";

/** Transient network failures: NATS not started yet, a name not in DNS yet, a network not up yet. */
const UNREACHABLE: Record<string, string> = {
  CONNECTION_REFUSED: "connection refused",
  ECONNREFUSED: "connection refused",
  TIMEOUT: "timed out",
  CONNECTION_TIMEOUT: "timed out",
  ETIMEDOUT: "timed out",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed for now",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed",
  DISCONNECT: "disconnected",
  CONNECTION_CLOSED: "connection closed",
};

const AUTH_REFUSED = new Set(["AUTHORIZATION_VIOLATION", "AUTHENTICATION_EXPIRED", "AUTHENTICATION_TIMEOUT", "ACCOUNT_EXPIRED", "BAD_AUTHENTICATION"]);

/** Node's certificate verification codes (and its TLS errors): the server's certificate is not trusted here. */
function isCertificateCode(code: string): boolean {
  return /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_)/.test(code);
}

/** A URL as it may be shown: user and password taken out. */
export function redactNatsUrl(servers: string): string {
  return servers.replace(/\/\/[^@/\s]*@/g, "//***@");
}

export function classifyNatsConnectError(error: unknown, context: NatsConnectContext): NatsConnectVerdict {
  const code = codeOf(error);
  const servers = redactNatsUrl(context.servers);
  const detail = code ?? (error instanceof Error ? error.message : String(error));
  const unreachable = code === undefined ? undefined : UNREACHABLE[code];
  if (unreachable !== undefined) return { retry: true, problem: unreachable };

  if (code !== undefined && AUTH_REFUSED.has(code)) {
    const what = describeError(error);
    if (context.credsFile !== undefined) {
      return refuse("--nats-creds", `the NATS server at ${servers} refused the credentials in ${context.credsFile} (${what}): check the file, and the account on the server`);
    }
    if (context.user !== undefined) {
      return refuse("--nats-user", `the NATS server at ${servers} refused user ${context.user} (${what}): check the user and --nats-password-file`);
    }
    return refuse(NATS_URL, `the NATS server at ${servers} wants credentials (${what}): give --nats-creds, or --nats-user and --nats-password-file`);
  }
  if (code === "BAD_CREDS") {
    return refuse("--nats-creds", `${context.credsFile ?? "the file"} is not a NATS credentials file (a user JWT and an NKey seed, as nsc writes it)`);
  }
  const tlsSetting = context.tls?.caFile !== undefined ? "--nats-ca" : context.tls?.certFile !== undefined ? "--nats-cert" : NATS_URL;
  if (code === "SERVER_OPT_NA") {
    return refuse(tlsSetting, `the NATS server at ${servers} does not offer TLS, but --nats-ca/--nats-cert ask for it: use the server's TLS port, or drop the TLS settings`);
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return refuse(NATS_URL, `the TLS certificate of the NATS server at ${servers} does not name that host (${describeError(error)}): connect by a name the certificate holds`);
  }
  if (code !== undefined && (code === "TLS" || isCertificateCode(code))) {
    const trust = context.tls?.caFile !== undefined ? `is not trusted by ${context.tls.caFile}` : "is not trusted";
    return refuse("--nats-ca", `the TLS certificate of the NATS server at ${servers} ${trust} (${describeError(error)}): give the CA that signed it with --nats-ca`);
  }
  return {
    retry: false,
    error: new UnavailableError(NATS_URL, `cannot connect to NATS at ${servers} (${detail}): check the URL (--nats, SMTP_PROBE_NATS_URL) and the server`, { cause: error }),
  };
}

function refuse(setting: string, problem: string): NatsConnectVerdict {
  return { retry: false, error: new ConfigError(setting, problem) };
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code !== "" ? code : undefined;
}

/** The error's own words, short: "Authorization Violation", "self-signed certificate". */
function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^'|'$/g, "").slice(0, 200);
}
