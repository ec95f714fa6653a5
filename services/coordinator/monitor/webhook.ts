// Deliveries of a monitor's change events to its webhook: a POST of the event as JSON, signed with
// HMAC-SHA256 over the timestamp and the body (header `smtp-probe-signature: t=<unix s>,v1=<hex>`,
// so a receiver can refuse replays and forgeries), tried up to WEBHOOK_ATTEMPTS times with growing
// pauses. The coordinator connects where a caller said, so the destination is held to the target
// policy's address rules as a probe is: the name resolved here, every address checked, the
// connection made to the checked address (no second lookup), no redirects followed.
import { createHmac } from "node:crypto";
import { lookup } from "node:dns/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import type { PolicyDenial } from "../../../lib/policy/policy-types.js";

export const WEBHOOK_ATTEMPTS = 3;
/** The pause before attempt n + 1 is WEBHOOK_BACKOFF_MS × 2^(n − 1). */
export const WEBHOOK_BACKOFF_MS = 1_000;
/** One attempt, connection to answer. */
export const WEBHOOK_TIMEOUT_MS = 5_000;
export const SIGNATURE_HEADER = "smtp-probe-signature";
export const MIN_SECRET_LENGTH = 16;
export const MAX_SECRET_LENGTH = 256;
const MAX_URL_LENGTH = 2_048;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Pure. */
export function webhookSignature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

/** What is wrong with a webhook URL and secret, or undefined. Pure. */
export function checkWebhook(url: string, secret: string): { field: string; description: string } | undefined {
  if (url.length > MAX_URL_LENGTH) return { field: "webhook_url", description: `at most ${MAX_URL_LENGTH} characters` };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { field: "webhook_url", description: "is not a URL" };
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return { field: "webhook_url", description: "must be http:// or https://" };
  if (parsed.username || parsed.password) return { field: "webhook_url", description: "must not hold credentials (the signature authenticates the delivery)" };
  if (secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH) {
    return { field: "webhook_secret", description: `must be ${MIN_SECRET_LENGTH} to ${MAX_SECRET_LENGTH} characters with webhook_url, got ${secret.length}` };
  }
  return undefined;
}

export type DeliveryResult = { ok: true; attempts: number } | { ok: false; attempts: number; reason: string };

export interface DeliveryDeps {
  checkAddress(address: string): PolicyDenial | undefined;
  /** The deny list and special-use names, on the URL's host name. */
  checkName?(name: string): PolicyDenial | undefined;
  /** Aborted: no further attempt. */
  signal: AbortSignal;
  now?: () => number;
}

/** Delivers `body` (JSON) to `url`, retrying failures that may pass (network, 408, 429, 5xx). */
export async function deliverWebhook(url: string, secret: string, body: string, deps: DeliveryDeps): Promise<DeliveryResult> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const deniedName = isIP(host) ? undefined : deps.checkName?.(host);
  if (deniedName) return { ok: false, attempts: 0, reason: `the target policy forbids ${host}: ${deniedName.reason}` };
  let address: string;
  try {
    address = isIP(host) ? host : await firstAllowed(host, deps);
  } catch (error) {
    return { ok: false, attempts: 0, reason: error instanceof Error ? error.message : String(error) };
  }
  const denied = deps.checkAddress(address);
  if (denied) return { ok: false, attempts: 0, reason: `the target policy forbids ${address}: ${denied.reason}` };
  let reason = "";
  for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
    if (deps.signal.aborted) return { ok: false, attempts: attempt - 1, reason: "stopped" };
    const outcome = await post(target, address, secret, body, deps);
    if (outcome.ok) return { ok: true, attempts: attempt };
    reason = outcome.reason;
    if (!outcome.retry || attempt === WEBHOOK_ATTEMPTS) return { ok: false, attempts: attempt, reason };
    await new Promise((resolve) => setTimeout(resolve, WEBHOOK_BACKOFF_MS * 2 ** (attempt - 1)));
  }
  return { ok: false, attempts: WEBHOOK_ATTEMPTS, reason };
}

async function firstAllowed(host: string, deps: DeliveryDeps): Promise<string> {
  const addresses = await lookup(host, { all: true, verbatim: true });
  const allowed = addresses.find((a) => deps.checkAddress(a.address) === undefined);
  if (!allowed) throw new Error(`the target policy forbids every address of ${host} (${addresses.map((a) => a.address).join(", ") || "none"})`);
  return allowed.address;
}

function post(target: URL, address: string, secret: string, body: string, deps: DeliveryDeps): Promise<{ ok: true } | { ok: false; retry: boolean; reason: string }> {
  const https = target.protocol === "https:";
  const signature = webhookSignature(secret, Math.floor((deps.now?.() ?? Date.now()) / 1000), body);
  return new Promise((resolve) => {
    const request = (https ? httpsRequest : httpRequest)(
      {
        host: address,
        port: target.port || (https ? 443 : 80),
        path: `${target.pathname}${target.search}`,
        method: "POST",
        // The name, not the address, for the server's virtual host and its certificate.
        servername: https && !isIP(target.hostname) ? target.hostname : undefined,
        headers: { host: target.host, "content-type": "application/json", "content-length": Buffer.byteLength(body), [SIGNATURE_HEADER]: signature, "user-agent": "smtp-probe" },
        timeout: WEBHOOK_TIMEOUT_MS,
        signal: deps.signal,
      },
      (response) => {
        response.resume(); // the answer's body is not read: only its status counts
        const code = response.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve({ ok: true });
        else resolve({ ok: false, retry: code === 408 || code === 429 || code >= 500, reason: `answered ${code}` });
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${WEBHOOK_TIMEOUT_MS} ms`)));
    request.on("error", (error) => resolve({ ok: false, retry: true, reason: error.message }));
    request.end(body);
  });
}
