import { isIP } from "node:net";
import {
  FailureSource,
  HandshakeResult,
  Outcome,
  Phase,
  type MxRecord,
  type TargetResult,
} from "../../gen/smtpprobe/v1/handshake.js";
import { defaultFindingFacts, deriveFindings } from "./findings.js";
import { runHandshake, type HandshakeContext } from "./handshake.js";
import type { ResolvedOptions } from "./options.js";
import { ResolveError, TargetResolver } from "./resolve.js";
import { elapsedSince } from "./transcript.js";

export interface ProbeTarget {
  /** A host name, an IP literal, or with `mx` a mail domain. */
  host: string;
  port: number;
  mx?: boolean;
}

/**
 * Decides whether an address may be connected to. Returns why not, or undefined when allowed.
 * It sees every resolved address, and the connection goes to the checked address itself, so a
 * second, different DNS answer cannot slip past it (no DNS rebinding).
 */
export type TargetPolicy = (address: string, port: number) => string | undefined;

export const allowAll: TargetPolicy = () => undefined;

export interface ProbeContext extends HandshakeContext {
  policy?: TargetPolicy;
  /** DNS servers as "ip" or "ip:port"; empty means the system's. */
  dnsServers?: readonly string[];
}

/**
 * Probes one port of one target: resolves it (through MX when asked), applies the policy to every
 * address, and runs a handshake per address, in parallel, under one deadline. Always returns a
 * result; every failure is one of its handshakes.
 */
export async function probeTarget(
  target: ProbeTarget,
  options: ResolvedOptions,
  context: ProbeContext = {},
): Promise<TargetResult> {
  const start = performance.now();
  const deadlineAt = start + options.deadlineMs;
  const policy = context.policy ?? allowAll;
  const resolver = new TargetResolver({ servers: context.dnsServers, timeoutMs: Math.min(options.deadlineMs, 5000) });
  const onAbort = (): void => resolver.cancel();
  context.signal?.addEventListener("abort", onAbort, { once: true });
  const deadline = setTimeout(onAbort, options.deadlineMs);
  const base = { host: target.host, port: target.port, mx: target.mx ?? false };

  try {
    let exchangers: MxRecord[] = [];
    let names: { host: string; exchange?: string; mxPreference?: number }[];
    if (target.mx) {
      context.onProgress?.({ host: target.host, address: "", port: target.port, phase: Phase.PHASE_RESOLVE });
      try {
        exchangers = (await resolver.resolveMx(target.host)).slice(0, options.maxExchangers);
      } catch (error) {
        return { ...base, exchangers, handshakes: [resolveFailure(target.host, target.port, error, context, options)], totalMs: elapsedSince(start) };
      }
      names = exchangers.map((mx) => ({ host: mx.exchange, exchange: mx.exchange, mxPreference: mx.preference }));
    } else {
      names = [{ host: target.host }];
    }

    const perName = await Promise.all(
      names.map(async (name): Promise<HandshakeResult[]> => {
        if (isIP(name.host) === 0) context.onProgress?.({ host: name.host, address: "", port: target.port, phase: Phase.PHASE_RESOLVE });
        let addresses: string[];
        try {
          addresses = await resolver.resolveAddresses(name.host, options.addressFamily, options.maxAddresses);
        } catch (error) {
          const failed = resolveFailure(name.host, target.port, error, context, options);
          failed.exchange = name.exchange ?? "";
          failed.mxPreference = name.mxPreference ?? 0;
          return [failed];
        }
        return Promise.all(
          addresses.map((address) => {
            const denied = policy(address, target.port);
            if (denied !== undefined) {
              return finish(
                HandshakeResult.fromPartial({
                  ...name,
                  address,
                  port: target.port,
                  tlsMode: options.tlsMode,
                  outcome: Outcome.OUTCOME_POLICY_DENIED,
                  phase: Phase.PHASE_POLICY,
                  failureSource: FailureSource.FAILURE_SOURCE_POLICY,
                  reason: `the target policy forbids ${address} port ${target.port}: ${denied}`,
                  startedAt: new Date(),
                }),
              );
            }
            return runHandshake(
              { ...name, address, port: target.port },
              options,
              {
                signal: context.signal,
                extraCa: context.extraCa,
                deadlineAt,
                onProgress: context.onProgress,
              },
            );
          }),
        );
      }),
    );
    return { ...base, exchangers, handshakes: perName.flat(), totalMs: elapsedSince(start) };
  } finally {
    clearTimeout(deadline);
    context.signal?.removeEventListener("abort", onAbort);
  }
}

function resolveFailure(
  host: string,
  port: number,
  error: unknown,
  context: ProbeContext,
  options: ResolvedOptions,
): HandshakeResult {
  if (!(error instanceof ResolveError)) throw error;
  const cancelled = error.code === "ECANCELLED";
  return finish(
    HandshakeResult.fromPartial({
      host,
      port,
      tlsMode: options.tlsMode,
      outcome: cancelled
        ? context.signal?.aborted
          ? Outcome.OUTCOME_CANCELLED
          : Outcome.OUTCOME_DEADLINE_EXCEEDED
        : Outcome.OUTCOME_DNS_FAILED,
      phase: Phase.PHASE_RESOLVE,
      failureSource: cancelled ? FailureSource.FAILURE_SOURCE_INTERNAL : FailureSource.FAILURE_SOURCE_RESOLVER,
      reason: cancelled && !context.signal?.aborted ? `the probe's deadline of ${options.deadlineMs} ms passed while resolving ${host}` : error.message,
      startedAt: new Date(),
    }),
  );
}

function finish(result: HandshakeResult): HandshakeResult {
  result.findings = deriveFindings(result, { ...defaultFindingFacts(), longestLineOctets: 0 });
  return result;
}
