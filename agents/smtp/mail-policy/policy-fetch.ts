// Fetching an MTA-STS policy (RFC 8461 §3.3): GET https://mta-sts.<domain>/.well-known/mta-sts.txt
// from the agent's own network, under the same target policy as SMTP. The name is checked before it
// is resolved, every address before a connection, and the connection goes to the checked address
// (no second lookup). Bounded: 64 KiB, one time limit for the whole fetch, no redirects (§3.3: a
// sender must not follow them), a certificate valid for the policy host under PKIX.
// mailauth's fetchPolicy resolves and connects by itself, to port 443 of the first address, with
// no hook for a target policy or a CA file: so the fetch is here and the reading is mailauth's.
import { request } from "node:https";
import { rootCertificates } from "node:tls";
import { isIP } from "node:net";
import type { PolicyDenial } from "../../../lib/policy/policy-types.js";
import { MAX_POLICY_BYTES } from "./mta-sts.js";

export interface PolicyFetchContext {
  /** The policy host's addresses, through the agent's resolver. */
  resolveAddresses(host: string): Promise<string[]>;
  checkName?: (name: string) => PolicyDenial | undefined;
  /** The target policy on an address (its port is the HTTPS port). */
  checkAddress(address: string, port: number): PolicyDenial | undefined;
  /** 443; another only in tests and labs. */
  port?: number;
  /** PEM added to Node's CA store (the agent's --ca-file). */
  extraCa?: string;
  timeoutMs: number;
  maxBytes?: number;
  signal?: AbortSignal;
}

export type PolicyFetchResult =
  | { ok: true; url: string; address: string; text: string; ms: number; warnings: string[] }
  | { ok: false; url: string; address: string; reason: string; ms: number };

export async function fetchPolicyText(domain: string, context: PolicyFetchContext): Promise<PolicyFetchResult> {
  const start = performance.now();
  const host = `mta-sts.${domain}`;
  const port = context.port ?? 443;
  const url = `https://${host}${port === 443 ? "" : `:${port}`}/.well-known/mta-sts.txt`;
  const fail = (reason: string, address = ""): PolicyFetchResult => ({ ok: false, url, address, reason, ms: performance.now() - start });
  const nameDenied = context.checkName?.(host);
  if (nameDenied) return fail(`the target policy forbids ${host}: ${nameDenied.reason}`);
  let addresses: string[];
  try {
    addresses = await withTime(context.resolveAddresses(host), context.timeoutMs, `resolving ${host}`);
  } catch (error) {
    return fail(`the policy host could not be resolved: ${error instanceof Error ? error.message : String(error)}`);
  }
  const allowed = addresses.find((a) => context.checkAddress(a, port) === undefined);
  if (allowed === undefined) {
    const denial = addresses.length > 0 ? context.checkAddress(addresses[0] ?? "", port) : undefined;
    return fail(`the target policy forbids every address of ${host}${denial ? `: ${denial.reason}` : ""}`, addresses[0] ?? "");
  }
  const left = Math.max(1, context.timeoutMs - (performance.now() - start));
  const got = await get(host, allowed, port, url, { ...context, timeoutMs: left });
  const ms = performance.now() - start;
  return got.ok ? { ok: true, url, address: allowed, text: got.text, ms, warnings: got.warnings } : { ok: false, url, address: allowed, reason: got.reason, ms };
}

type GetResult = { ok: true; text: string; warnings: string[] } | { ok: false; reason: string };

function get(host: string, address: string, port: number, url: string, context: PolicyFetchContext): Promise<GetResult> {
  const maxBytes = context.maxBytes ?? MAX_POLICY_BYTES;
  return new Promise<GetResult>((resolve) => {
    let settled = false;
    const done = (result: GetResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      context.signal?.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(result);
    };
    const seconds = (context.timeoutMs / 1000).toFixed(1).replace(/\.0$/, "");
    const timer = setTimeout(() => done({ ok: false, reason: `no complete policy within ${seconds} s from ${url}` }), context.timeoutMs);
    const onAbort = (): void => done({ ok: false, reason: "cancelled" });
    const req = request({
      host: address,
      port,
      family: isIP(address),
      path: "/.well-known/mta-sts.txt",
      method: "GET",
      servername: host,
      headers: { host: port === 443 ? host : `${host}:${port}`, accept: "text/plain", "user-agent": "smtp-probe" },
      ca: context.extraCa ? [...rootCertificates, context.extraCa] : undefined,
      rejectUnauthorized: true,
      agent: false,
      maxHeaderSize: 16 * 1024,
    });
    context.signal?.addEventListener("abort", onAbort, { once: true });
    if (context.signal?.aborted) onAbort();
    req.on("socket", (socket) => {
      socket.once("connect", () => {
        // The peer the socket reports, checked again before a byte is sent (as the SMTP side does).
        const remote = socket.remoteAddress ?? "";
        const denied = remote === "" ? undefined : context.checkAddress(remote, port);
        if (remote !== address || denied) done({ ok: false, reason: `connected to ${remote || "an unknown peer"}, not the address checked (${address})` });
      });
    });
    req.on("error", (error) => done({ ok: false, reason: httpsErrorText(error, host, url) }));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        const location = typeof res.headers.location === "string" ? ` to ${res.headers.location.slice(0, 200)}` : "";
        done({ ok: false, reason: `${url} answered HTTP ${status}, a redirect${location}; RFC 8461 §3.3 forbids following it, so there is no policy` });
        return;
      }
      if (status !== 200) {
        done({ ok: false, reason: `${url} answered HTTP ${status}; only 200 delivers a policy (RFC 8461 §3.3)` });
        return;
      }
      const warnings: string[] = [];
      const mediaType = String(res.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
      if (mediaType !== "text/plain") warnings.push("content-type");
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > maxBytes) {
        done({ ok: false, reason: `the policy is ${declared} bytes, over the ${maxBytes / 1024} KiB senders accept (RFC 8461 §3.3)` });
        return;
      }
      const chunks: Buffer[] = [];
      let length = 0;
      res.on("data", (chunk: Buffer) => {
        length += chunk.length;
        if (length > maxBytes) {
          done({ ok: false, reason: `the policy is over the ${maxBytes / 1024} KiB senders accept (RFC 8461 §3.3)` });
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => done({ ok: true, text: Buffer.concat(chunks).toString("utf8"), warnings }));
      res.on("error", (error) => done({ ok: false, reason: httpsErrorText(error, host, url) }));
      res.on("aborted", () => done({ ok: false, reason: `${url} closed the connection before the policy was complete` }));
    });
    req.end();
  });
}

function httpsErrorText(error: Error, host: string, url: string): string {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS_CERT_ALTNAME/.test(code)) {
    return `the certificate of ${host} is not valid (${error.message}); RFC 8461 §3.3 asks senders to refuse the policy`;
  }
  const words: Record<string, string> = {
    ECONNREFUSED: "refused the connection",
    ECONNRESET: "reset the connection",
    ETIMEDOUT: "did not answer",
    EHOSTUNREACH: "is unreachable",
    ENETUNREACH: "is unreachable",
  };
  return `${url} ${words[code] ?? `failed: ${error.message}`}`;
}

async function withTime<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
