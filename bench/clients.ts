// The clients the bench compares, each reduced to "run one handshake against the target": the
// engine (runHandshake, everything it records included) and the minimal raw net/tls handshake.
import { Outcome, Phase, ProbeOptions, type HandshakeResult } from "../gen/smtpprobe/v1/handshake.js";
import { runHandshake, type HandshakeTarget } from "../agents/smtp/handshake.js";
import { resolveOptions, type ResolvedOptions } from "../agents/smtp/options.js";
import { minimalHandshake, type MinimalOptions } from "./minimal-handshake.js";

/** A local target: the name gives the SNI ("localhost"), the address is where to connect. */
export interface BenchTarget {
  label: string;
  host: string;
  address: string;
  port: number;
}

/** One handshake; resolves when it completed, rejects when it did not. */
export type RunOnce = () => Promise<void>;

export const EHLO_NAME = "bench.test";

let ehloSequence = 0;
/**
 * A new EHLO name under EHLO_NAME for each call through the service, so that concurrent calls are
 * distinct probes: the coordinator joins identical in-flight requests of one caller into one.
 */
export function distinctEhloName(): string {
  return `c${(ehloSequence++).toString(36)}.${EHLO_NAME}`;
}
/** Per handshake: a bench against a local server never waits long. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export class BenchHandshakeError extends Error {
  override readonly name = "BenchHandshakeError";
}

export function engineOptions(port: number, overrides: Partial<ProbeOptions["timeouts"]> = {}): ResolvedOptions {
  return resolveOptions(
    ProbeOptions.fromPartial({ timeouts: { deadlineMs: HANDSHAKE_TIMEOUT_MS, ...overrides } }),
    port,
    EHLO_NAME,
  );
}

function handshakeTarget(target: BenchTarget): HandshakeTarget {
  return { host: target.host, address: target.address, port: target.port };
}

/** The engine as an agent runs it; `onResult` sees each result (phase timings for the stall test). */
export function engineClient(target: BenchTarget, onResult?: (result: HandshakeResult) => void): RunOnce {
  const options = engineOptions(target.port);
  const to = handshakeTarget(target);
  return async () => {
    const result = await runHandshake(to, options);
    if (result.outcome !== Outcome.OUTCOME_OK || result.phase !== Phase.PHASE_DONE) {
      throw new BenchHandshakeError(`engine: ${Outcome[result.outcome]} in ${Phase[result.phase]}: ${result.reason}`);
    }
    onResult?.(result);
  };
}

/** The same SNI rule as the engine: the host name, none for an IP literal. */
function minimalTarget(target: BenchTarget): { servername: string | undefined; address: string; port: number } {
  const isLiteral = /^[\d.]+$|:/.test(target.host);
  return { servername: isLiteral ? undefined : target.host, address: target.address, port: target.port };
}

export interface MinimalClientOptions {
  /** Default true, as the engine. */
  noDelay?: boolean;
  tlsOverrides?: MinimalOptions["tlsOverrides"];
  /**
   * Diagnostics: gets [start, banner, EHLO reply, STARTTLS reply, secureConnect, EHLO-over-TLS
   * reply, QUIT reply] (performance.now()) of each handshake.
   */
  onMarks?: (marks: number[]) => void;
}

export function minimalClient(target: BenchTarget, { noDelay = true, tlsOverrides, onMarks }: MinimalClientOptions = {}): RunOnce {
  const to = minimalTarget(target);
  return async () => {
    const marks = onMarks ? [performance.now()] : undefined;
    await minimalHandshake(to, { ehloName: EHLO_NAME, noDelay, timeoutMs: HANDSHAKE_TIMEOUT_MS, marks, tlsOverrides });
    if (marks) onMarks?.(marks);
  };
}
