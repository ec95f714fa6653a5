// Who calls the coordinator: bearer tokens (`--auth-tokens FILE`) and/or mutual TLS
// (`--client-ca FILE`), checked by a gRPC server interceptor before any handler runs. The start-up
// rules (what may listen where) and the token-file parser are pure and live here too.
import { createHash, timingSafeEqual } from "node:crypto";
import { BlockList, isIP } from "node:net";
import type { PeerCertificate } from "node:tls";
import {
  Metadata,
  ServerInterceptingCall,
  status,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from "@grpc/grpc-js";
import { ConfigError } from "../../lib/config.js";
import type { Logger } from "../../lib/logger.js";
import { metrics } from "../../lib/metrics.js";

/**
 * The metadata key through which the interceptor hands the authenticated caller's name to the
 * handlers. Whatever a client sends under this key is overwritten, so a handler can trust it.
 */
export const CALLER_METADATA_KEY = "x-smtp-probe-caller";

/** The caller's name when no authentication is configured (loopback only). */
export const ANONYMOUS_CALLER = "anonymous";

export const MIN_TOKEN_LENGTH = 16;

/** RFC 6750 b64token: what fits in `authorization: Bearer …`. */
const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A caller's name: printable, no spaces, as it appears in logs. */
const CALLER_SYNTAX = /^[\x21-\x7e]{1,128}$/;

/** Parses `TOKEN CALLER-NAME` lines (`#` comments and blank lines allowed) into token → caller. */
export function parseTokenFile(text: string, file: string): Map<string, string> {
  const setting = "--auth-tokens";
  const tokens = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `${file} line ${index + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) throw new ConfigError(setting, `${where}: must be "TOKEN CALLER-NAME" (got ${fields.length} field${fields.length === 1 ? "" : "s"})`);
    const [token = "", caller = ""] = fields;
    if (!TOKEN_SYNTAX.test(token)) throw new ConfigError(setting, `${where}: the token may only hold letters, digits and - . _ ~ + / (then = padding)`);
    if (token.length < MIN_TOKEN_LENGTH) throw new ConfigError(setting, `${where}: the token must be at least ${MIN_TOKEN_LENGTH} characters (got ${token.length})`);
    if (!CALLER_SYNTAX.test(caller)) throw new ConfigError(setting, `${where}: the caller name must be 1-128 printable characters without spaces`);
    if (tokens.has(token)) throw new ConfigError(setting, `${where}: the same token is already given to ${tokens.get(token)}`);
    tokens.set(token, caller);
  });
  if (tokens.size === 0) throw new ConfigError(setting, `${file}: holds no token (one "TOKEN CALLER-NAME" per line)`);
  return tokens;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost") return true;
  const family = isIP(h);
  if (family === 4) return LOOPBACK.check(h, "ipv4");
  if (family === 6) return LOOPBACK.check(h, "ipv6");
  return false;
}

export interface AuthSettings {
  listenHost: string;
  /** The flag of that address: --listen (gRPC, the default) or --http-listen (the HTTP listener). */
  listenFlag?: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  authTokens?: string;
}

/**
 * The start-up rules, each a ConfigError naming the flag: TLS needs both the certificate and the
 * key; mutual TLS needs TLS; bearer tokens in plaintext only on loopback; no authentication at all
 * only on loopback. Returns whether the coordinator runs without caller authentication.
 */
export function checkAuthSettings(s: AuthSettings): { unauthenticated: boolean } {
  if (s.tlsKey && !s.tlsCert) throw new ConfigError("--tls-key", "needs --tls-cert too (the certificate that goes with the key)");
  if (s.tlsCert && !s.tlsKey) throw new ConfigError("--tls-cert", "needs --tls-key too (the private key of the certificate)");
  const tls = Boolean(s.tlsCert);
  if (s.clientCa && !tls) throw new ConfigError("--client-ca", "needs --tls-cert and --tls-key: mutual TLS is served over TLS");
  const loopback = isLoopbackHost(s.listenHost);
  if (s.authTokens && !tls && !loopback) {
    throw new ConfigError(
      "--auth-tokens",
      `bearer tokens over plaintext only on a loopback listen address (got ${s.listenHost}${s.listenFlag ? ` for ${s.listenFlag}` : ""}): add --tls-cert and --tls-key, or listen on 127.0.0.1`,
    );
  }
  const unauthenticated = !s.authTokens && !s.clientCa;
  if (unauthenticated && !loopback) {
    throw new ConfigError(
      s.listenFlag ?? "--listen",
      `without caller authentication (--auth-tokens or --client-ca) the coordinator listens on loopback only (127.0.0.0/8, ::1, localhost), got ${s.listenHost}`,
    );
  }
  return { unauthenticated };
}

/** The caller named by a client certificate: its subject CN, else its first DNS subject alternative name. */
export function callerFromCertificate(cert: Pick<PeerCertificate, "subject" | "subjectaltname"> | undefined): string | undefined {
  if (!cert) return undefined;
  const cn = cert.subject?.CN as string | string[] | undefined;
  const first = Array.isArray(cn) ? cn[0] : cn;
  if (first) return first;
  const dns = (cert.subjectaltname ?? "")
    .split(/,\s*/)
    .find((entry) => entry.startsWith("DNS:"));
  return dns ? dns.slice(4) : undefined;
}

/** Compares a presented token with every configured one in constant time (per token), no early exit. */
export function tokenMatcher(tokens: ReadonlyMap<string, string>): (presented: string) => string | undefined {
  const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();
  const entries = [...tokens].map(([token, caller]) => ({ digest: digest(token), caller }));
  return (presented) => {
    const given = digest(presented);
    let found: string | undefined;
    for (const entry of entries) if (timingSafeEqual(entry.digest, given) && found === undefined) found = entry.caller;
    return found;
  };
}

/** Services left open: load balancers probe health, tools read reflection. */
const OPEN_SERVICES = ["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

export interface CallerAuth {
  /** Bearer tokens → caller names; undefined: no token is asked for. */
  tokens?: ReadonlyMap<string, string>;
  /** Mutual TLS is on: the TLS layer has verified the client certificate; it names the caller. */
  mutualTls: boolean;
  /** Refused calls are logged here, one audit line each (with the peer address: there is no caller). */
  audit?: Logger;
}

/**
 * The server interceptor: with tokens, `authorization: Bearer <token>` must match one; with mutual
 * TLS, the certificate must name a caller. Otherwise UNAUTHENTICATED, and the call never reaches
 * its handler. The caller's name goes on in the metadata (CALLER_METADATA_KEY); the token does not.
 * With tokens and mutual TLS both, both are required and the token names the caller.
 */
export function callerAuthInterceptor(auth: CallerAuth): ServerInterceptor {
  const match = auth.tokens ? tokenMatcher(auth.tokens) : undefined;
  const auditLog = auth.audit?.child({ audit: true });
  return (method: ServerMethodDefinition<unknown, unknown>, call: ServerInterceptingCallInterface) => {
    if (OPEN_SERVICES.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata: Metadata, nextMetadata: (metadata: Metadata) => void) {
            const caller = identify(metadata, call);
            if (caller === undefined) {
              const details = auth.tokens ? "missing or invalid bearer token" : "the client certificate names no caller";
              metrics.requestsRejected.inc({ reason: "unauthenticated" });
              auditLog?.info({ event: "denied", peer: call.getPeer(), method: method.path, reason: "unauthenticated", code: "UNAUTHENTICATED", detail: details }, "audit");
              call.sendStatus({ code: status.UNAUTHENTICATED, details });
              return;
            }
            metadata.remove("authorization");
            metadata.set(CALLER_METADATA_KEY, caller);
            nextMetadata(metadata);
          },
        });
      },
    });
  };

  function identify(metadata: Metadata, call: ServerInterceptingCallInterface): string | undefined {
    let fromCert: string | undefined;
    if (auth.mutualTls) {
      fromCert = callerFromCertificate(call.getAuthContext().sslPeerCertificate);
      if (fromCert === undefined) return undefined;
    }
    if (match) {
      const header = metadata.get("authorization")[0];
      const token = typeof header === "string" ? /^Bearer +(\S+)$/i.exec(header.trim())?.[1] : undefined;
      return token === undefined ? undefined : match(token);
    }
    return fromCert ?? ANONYMOUS_CALLER;
  }
}

/** The authenticated caller of a call, as the interceptor set it. */
export function callerOf(metadata: Metadata): string {
  const value = metadata.get(CALLER_METADATA_KEY)[0];
  return typeof value === "string" && value !== "" ? value : ANONYMOUS_CALLER;
}
