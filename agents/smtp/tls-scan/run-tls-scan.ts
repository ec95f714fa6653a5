// The TLS scan of one address and port, after its handshake: whether there is anything to scan,
// the bounds it runs in, and its profile. Never throws for what the server does.
import { TlsMode, TlsScanStatus, TlsVersion, type HandshakeResult, type TlsProfile } from "../../../gen/smtpprobe/v1/handshake.js";
import { deadlineSignal, type OpenConnection } from "../extra-connections.js";
import type { ResolvedOptions } from "../options.js";
import { elapsedSince } from "../transcript.js";
import { encodeClientHello } from "./client-hello.js";
import { interpretExchange, type HelloAnswer, type HelloRequest } from "./hello-answer.js";
import { exchangeHello } from "./hello-exchange.js";
import { runScanPlan, PLAN_BOUNDS, type ScanFacts } from "./scan-plan.js";
import { buildTlsProfile, notScanned } from "./tls-profile.js";
import { versionLabel } from "./tls-registry.js";

/**
 * The scan's bounds: connections (PLAN_BOUNDS: 48, below the coordinator's default of 60 a minute
 * to one address), at most 4 open at once (its default per address), 45 s, and per connection
 * the probe's own timeouts capped, and 64 KiB of the server's flight.
 */
export const SCAN_BOUNDS = {
  maxConnections: PLAN_BOUNDS.maxConnections,
  concurrency: PLAN_BOUNDS.concurrency,
  maxMs: 45_000,
  /** The scan stops this long before the probe's deadline, so that its result is still sent. */
  deadlineMarginMs: 250,
  stepMs: 10_000,
  maxFlightBytes: 64 * 1024,
} as const;

export interface TlsScanContext {
  /** Opens one more connection to the address, under the policy and the throttle. */
  open: OpenConnection;
  /** The name sent in EHLO (the handshake's). */
  ehloName: string;
  /** SNI; empty sends none. */
  serverName: string;
  signal?: AbortSignal;
  /** The probe's deadline (performance.now() ms). */
  deadlineAt: number;
}

/** Why a port is not scanned, or undefined when it is: the handshake must have shown a way into TLS. */
export function reasonNotToScan(result: HandshakeResult, options: ResolvedOptions): string | undefined {
  if (options.tlsMode === TlsMode.TLS_MODE_NONE) return "TLS mode NONE: TLS is never started";
  if (options.tlsMode === TlsMode.TLS_MODE_IMPLICIT) {
    return result.address ? undefined : "the handshake did not connect";
  }
  if (!result.capabilities) return "the handshake did not get to EHLO";
  if (!result.capabilities.starttls) return "STARTTLS is not offered";
  return undefined;
}

export async function runTlsScan(result: HandshakeResult, options: ResolvedOptions, context: TlsScanContext): Promise<TlsProfile> {
  const notNow = reasonNotToScan(result, options);
  if (notNow) return notScanned(notNow);
  const started = performance.now();
  const stop = deadlineSignal(Math.min(started + SCAN_BOUNDS.maxMs, context.deadlineAt - SCAN_BOUNDS.deadlineMarginMs), context.signal);
  const settings = {
    implicit: options.tlsMode === TlsMode.TLS_MODE_IMPLICIT,
    ehloName: context.ehloName,
    bannerMs: Math.min(options.bannerMs, SCAN_BOUNDS.stepMs),
    commandMs: Math.min(options.commandMs, SCAN_BOUNDS.stepMs),
    answerMs: Math.min(options.tlsMs, SCAN_BOUNDS.stepMs),
    replyLimits: { maxLineOctets: options.maxLineOctets, maxReplyLines: options.maxReplyLines },
    maxFlightBytes: SCAN_BOUNDS.maxFlightBytes,
    signal: stop.signal,
  };
  const ask = async (request: HelloRequest): Promise<HelloAnswer> => {
    if (stop.signal.aborted) return { kind: "unknown", detail: scanEnd(context.signal), connection: true, final: true };
    const hello = encodeClientHello({ ...request, serverName: context.serverName });
    const answer = interpretExchange(await exchangeHello(context.open, hello, settings), request);
    // The scan's own end reads as a failed connection; say what it was.
    return stop.signal.aborted && answer.kind === "unknown" ? { ...answer, detail: scanEnd(context.signal), final: true } : answer;
  };
  try {
    const facts = await runScanPlan(ask, { ...PLAN_BOUNDS, maxConnections: SCAN_BOUNDS.maxConnections, concurrency: SCAN_BOUNDS.concurrency });
    const profile = buildTlsProfile(facts, elapsedSince(started));
    const disagreement = disagreesWithHandshake(facts, result);
    if (disagreement) {
      profile.status = TlsScanStatus.TLS_SCAN_STATUS_PARTIAL; // the profile cannot be the whole truth
      profile.reason = [disagreement, profile.reason].filter(Boolean).join("; ");
    }
    return profile;
  } finally {
    stop.dispose();
  }
}

function scanEnd(signal: AbortSignal | undefined): string {
  return signal?.aborted ? "the probe was cancelled" : "the scan ran out of time (its bound, or the probe's deadline)";
}

const PROTOCOL_VERSION: Readonly<Record<string, TlsVersion>> = {
  SSLv3: TlsVersion.TLS_VERSION_SSL_3_0,
  TLSv1: TlsVersion.TLS_VERSION_TLS_1_0,
  "TLSv1.1": TlsVersion.TLS_VERSION_TLS_1_1,
  "TLSv1.2": TlsVersion.TLS_VERSION_TLS_1_2,
  "TLSv1.3": TlsVersion.TLS_VERSION_TLS_1_3,
};

/**
 * The handshake negotiated a version the scan found refused: the hand-built hellos did not get
 * what a real client gets (a server or middlebox that treats them differently), so say so.
 */
function disagreesWithHandshake(facts: ScanFacts, result: HandshakeResult): string | undefined {
  const negotiated = PROTOCOL_VERSION[result.tls?.protocol ?? ""];
  if (negotiated === undefined) return undefined;
  const seen = facts.versions.find((v) => v.version === negotiated);
  if (seen?.support !== "refused") return undefined;
  return `the handshake negotiated ${versionLabel(negotiated)}, which the scan's hellos found refused (${seen.detail})`;
}
