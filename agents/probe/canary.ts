// The agent's check of its own egress (docs/design.md §1): a canary target per port, chosen by the
// operator, probed with the engine on a timer. Many clouds block outbound port 25; when the
// canary on a port fails too, a failure on that port says more about the agent than the target.
import { EgressCheck } from "../../gen/smtpprobe/v1/probe_service.js";
import { Outcome, Phase, ProbeOptions, TlsMode, type HandshakeResult } from "../../gen/smtpprobe/v1/handshake.js";
import { formatHostPort } from "../../lib/host-port.js";
import type { Logger } from "../../lib/logger.js";
import { resolveOptions } from "../smtp/options.js";
import { probeTarget } from "../smtp/probe-target.js";
import { allowAll } from "../../lib/policy/policy-types.js";

export interface CanaryTarget {
  host: string;
  port: number;
}

export interface EgressCanaryOptions {
  canaries: readonly CanaryTarget[];
  /** Between the end of one round and the start of the next. The first round runs at start(). */
  intervalMs: number;
  /** Deadline of one canary probe; at most 10 s (MAX_CANARY_DEADLINE_MS). */
  deadlineMs?: number;
  defaultEhloName?: string;
  dnsServers?: readonly string[];
  logger: Logger;
}

export const MAX_CANARY_DEADLINE_MS = 10_000;

/** "host:port", "[IPv6]:port": the form --canary takes (parseHostPort) and results name. */
export function formatCanary(target: CanaryTarget): string {
  return formatHostPort(target.host, target.port);
}

/**
 * Probes one canary. The policy allows everything: canaries are the operator's own choice, and
 * may well sit in ranges the target policy denies. No TLS and short timeouts: the question is
 * only whether a TCP connection on the port gets out.
 */
export async function checkCanary(
  target: CanaryTarget,
  options: { deadlineMs?: number; defaultEhloName?: string; dnsServers?: readonly string[]; signal?: AbortSignal } = {},
): Promise<EgressCheck> {
  const deadlineMs = Math.min(options.deadlineMs ?? MAX_CANARY_DEADLINE_MS, MAX_CANARY_DEADLINE_MS);
  const step = Math.min(5_000, deadlineMs);
  const resolved = resolveOptions(
    ProbeOptions.fromPartial({
      tlsMode: TlsMode.TLS_MODE_NONE,
      maxAddresses: 1,
      timeouts: { connectMs: step, bannerMs: step, commandMs: step, tlsMs: step, deadlineMs },
    }),
    target.port,
    options.defaultEhloName,
  );
  const result = await probeTarget(target, resolved, { policy: allowAll, dnsServers: options.dnsServers, signal: options.signal });
  const furthest = furthestHandshake(result.handshakes);
  // Any phase past CONNECT means the TCP connection was made: even a banner rejection (554)
  // proves that egress on the port works.
  const ok = furthest !== undefined && furthest.phase > Phase.PHASE_CONNECT;
  return EgressCheck.fromPartial({
    port: target.port,
    canary: formatCanary(target),
    ok,
    outcome: furthest?.outcome ?? Outcome.OUTCOME_UNSPECIFIED,
    detail: describeCheck(furthest, ok),
    checkedAt: new Date(),
    durationMs: result.totalMs,
  });
}

function furthestHandshake(handshakes: readonly HandshakeResult[]): HandshakeResult | undefined {
  let best: HandshakeResult | undefined;
  for (const h of handshakes) if (!best || h.phase > best.phase) best = h;
  return best;
}

function describeCheck(handshake: HandshakeResult | undefined, ok: boolean): string {
  if (!handshake) return "the canary gave no result";
  const at = handshake.address ? ` (${handshake.address})` : "";
  if (handshake.outcome === Outcome.OUTCOME_OK) return `connected${at} and completed the handshake`;
  return ok ? `connected${at}, then: ${handshake.reason}` : handshake.reason;
}

/** One check per port, in port order: an ok canary wins over a failed one on the same port. */
export function egressPerPort(checks: readonly EgressCheck[]): EgressCheck[] {
  const byPort = new Map<number, EgressCheck>();
  for (const check of checks) {
    const seen = byPort.get(check.port);
    if (!seen || (!seen.ok && check.ok)) byPort.set(check.port, check);
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

/** Runs the canaries every `intervalMs` and keeps the latest check per port. */
export class EgressCanary {
  private checks: EgressCheck[] = [];
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<EgressCheck[]> | undefined;
  private readonly stopSignal = new AbortController();

  constructor(private readonly options: EgressCanaryOptions) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs < 1) throw new RangeError(`canary interval must be a positive number of ms, not ${options.intervalMs}`);
  }

  /** Runs the first round now, and then one every intervalMs. Nothing to do without canaries. */
  start(): void {
    if (this.options.canaries.length === 0 || this.stopSignal.signal.aborted) return;
    void this.runAndSchedule();
  }

  /** The latest check per port (empty until the first round ends). */
  egress(): EgressCheck[] {
    return [...this.checks];
  }

  /** Runs one round now (or joins the one running) and returns the checks per port. */
  checkEgress(): Promise<EgressCheck[]> {
    this.round ??= this.runRound().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  /** Stops the timer and aborts a round in progress; resolves once it has ended. */
  async stop(): Promise<void> {
    this.stopSignal.abort();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.round?.catch(() => undefined);
  }

  private async runAndSchedule(): Promise<void> {
    try {
      await this.checkEgress();
    } catch (error) {
      this.options.logger.error({ err: error }, "egress canary round failed");
    }
    if (this.stopSignal.signal.aborted) return;
    this.timer = setTimeout(() => void this.runAndSchedule(), this.options.intervalMs);
    this.timer.unref();
  }

  private async runRound(): Promise<EgressCheck[]> {
    const { canaries, logger } = this.options;
    if (canaries.length === 0) return [];
    const checks = await Promise.all(
      canaries.map((target) =>
        checkCanary(target, {
          deadlineMs: this.options.deadlineMs,
          defaultEhloName: this.options.defaultEhloName,
          dnsServers: this.options.dnsServers,
          signal: this.stopSignal.signal,
        }),
      ),
    );
    // A round cut short by stop() says nothing about egress: keep the previous checks.
    if (this.stopSignal.signal.aborted) return this.egress();
    const previous = new Map(this.checks.map((c) => [c.port, c.ok]));
    this.checks = egressPerPort(checks);
    for (const check of this.checks) {
      const fields = { port: check.port, canary: check.canary, ok: check.ok, outcome: Outcome[check.outcome], ms: check.durationMs };
      // Log a change at info (and the first check), a steady state at debug.
      if (previous.get(check.port) !== check.ok) logger[check.ok ? "info" : "warn"]({ ...fields, detail: check.detail }, "egress check");
      else logger.debug(fields, "egress check");
    }
    return this.egress();
  }
}
