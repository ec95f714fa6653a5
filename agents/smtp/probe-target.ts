import { isIP } from "node:net";
import {
  FailureSource,
  HandshakeResult,
  Outcome,
  Phase,
  PortRole,
  TlsMode,
  type MailPolicy,
  type MxRecord,
  type NotProbed,
  type TargetResult,
} from "../../gen/smtpprobe/v1/handshake.js";
import { checkConnectedPeer, type ConnectGate } from "./extra-connections.js";
import { runHandshake, type HandshakeContext } from "./handshake.js";
import { noteTlsChecksNotRun, runTlsChecks } from "./tls-checks.js";
import type { ResolvedOptions } from "./options.js";
import { addressesNotProbed, boundNotProbed, exchangersNotProbed, splitAtLimit } from "./not-probed.js";
import { ResolveError, TargetResolver } from "./resolve.js";
import { stoppedBeforeConnecting } from "./stopped-result.js";
import { elapsedSince } from "./transcript.js";
import { allowAll, type PolicyDenial, type TargetPolicy } from "../../lib/policy/policy-types.js";

export interface ProbeTarget {
  /** A host name, an IP literal, or with `mx` a mail domain. */
  host: string;
  port: number;
  mx?: boolean;
}

// The gate is defined with the connections it guards; it is part of this module's interface too.
export type { ConnectGate } from "./extra-connections.js";

export interface ProbeContext extends HandshakeContext {
  policy?: TargetPolicy;
  /** Undefined: connect without asking (the CLI's local mode). */
  gate?: ConnectGate;
  /** DNS servers as "ip" or "ip:port"; empty means the system's. */
  dnsServers?: readonly string[];
  /** Asked before any name is resolved (the target, the mail domain, each MX exchanger); default policy.checkName. */
  checkName?: (name: string) => PolicyDenial | undefined;
  /** The port an MTA-STS policy is fetched from: 443 (RFC 8461 §3.3); another only in tests and labs. */
  mtaStsPort?: number;
}

/**
 * Probes one port of one target: resolves it (through MX when asked), applies the policy to every
 * address, and runs a handshake per address, in parallel, under one deadline. Always returns a
 * result; every failure is one of its handshakes, and every exchanger or address a limit
 * (max_exchangers, max_addresses) left out is in not_probed.
 */
export async function probeTarget(
  target: ProbeTarget,
  options: ResolvedOptions,
  context: ProbeContext = {},
): Promise<TargetResult> {
  const start = performance.now();
  const deadlineAt = start + options.deadlineMs;
  const policy = context.policy ?? allowAll;
  const checkName = context.checkName ?? policy.checkName;
  const resolver = new TargetResolver({ servers: context.dnsServers, timeoutMs: Math.min(options.deadlineMs, 5000) });
  const onAbort = (): void => resolver.cancel();
  context.signal?.addEventListener("abort", onAbort, { once: true });
  const deadline = setTimeout(onAbort, options.deadlineMs);
  const base = { host: target.host, port: target.port, mx: target.mx ?? false };
  const domain = policyDomainOf(target, options);
  // The domain's policy is looked up while the exchangers are probed; it judges them at the end.
  const mailPolicy = domain === "" || (target.mx && checkName?.(domain)) ? undefined : lookupPolicy(domain, target.port, resolver, options, context, policy, start);

  try {
    let exchangers: MxRecord[] = [];
    // Exchangers first, in preference order, then each probed name's addresses, in name order.
    const leftOut: NotProbed[] = [];
    const addressesLeftOut: NotProbed[][] = [];
    let names: { host: string; exchange?: string; mxPreference?: number }[];
    if (target.mx) {
      const domainDenied = checkName?.(target.host);
      if (domainDenied !== undefined) {
        return { ...base, exchangers, handshakes: [nameDenial({ host: target.host }, target.port, domainDenied.reason, options)], totalMs: elapsedSince(start), ...boundNotProbed([]), mailPolicy: undefined };
      }
      context.onProgress?.({ host: target.host, address: "", port: target.port, phase: Phase.PHASE_RESOLVE });
      try {
        const { kept, left } = splitAtLimit(await resolver.resolveMx(target.host), options.maxExchangers);
        exchangers = kept;
        leftOut.push(...exchangersNotProbed(left, options.maxExchangers));
      } catch (error) {
        return { ...base, exchangers, handshakes: [resolveFailure(target.host, target.port, error, context, options)], totalMs: elapsedSince(start), ...boundNotProbed([]), mailPolicy: undefined };
      }
      names = exchangers.map((mx) => ({ host: mx.exchange, exchange: mx.exchange, mxPreference: mx.preference }));
    } else {
      names = [{ host: target.host }];
    }

    const perName = await Promise.all(
      names.map(async (name, nameIndex): Promise<HandshakeResult[]> => {
        const nameDenied = isIP(name.host) === 0 ? checkName?.(name.host) : undefined;
        if (nameDenied !== undefined) return [nameDenial(name, target.port, nameDenied.reason, options)];
        if (isIP(name.host) === 0) context.onProgress?.({ host: name.host, address: "", port: target.port, phase: Phase.PHASE_RESOLVE });
        let addresses: string[];
        try {
          const { kept, left } = splitAtLimit(await resolver.resolveAddresses(name.host, options.addressFamily), options.maxAddresses);
          addresses = kept;
          addressesLeftOut[nameIndex] = addressesNotProbed(name, left, options.maxAddresses);
        } catch (error) {
          const failed = resolveFailure(name.host, target.port, error, context, options);
          failed.exchange = name.exchange ?? "";
          failed.mxPreference = name.mxPreference ?? 0;
          return [failed];
        }
        return Promise.all(
          addresses.map(async (address) => {
            const denied = policy(address, target.port);
            if (denied !== undefined) {
              return stoppedBeforeConnecting({
                where: { ...name, address, port: target.port },
                tlsMode: options.tlsMode,
    portRole: options.portRole,
                outcome: Outcome.OUTCOME_POLICY_DENIED,
                phase: Phase.PHASE_POLICY,
                failureSource: FailureSource.FAILURE_SOURCE_POLICY,
                reason: `the target policy forbids ${address} port ${target.port}: ${denied.reason}`,
              });
            }
            const handshake = (): Promise<HandshakeResult> =>
              runHandshake(
                { ...name, address, port: target.port },
                options,
                {
                  signal: context.signal,
                  extraCa: context.extraCa,
                  deadlineAt,
                  onProgress: context.onProgress,
                  checkConnected: (remote, remotePort) => checkConnectedPeer(policy, address, target.port, remote, remotePort),
                },
              );
            const result = await (context.gate ? gatedHandshake(context.gate, { ...name, address, port: target.port }, options, context, deadlineAt, handshake) : handshake());
            // After the handshake, its slot given back: the checks ask for their own, connection by connection.
            return runTlsChecks(result, options, { policy, gate: context.gate, signal: context.signal, deadlineAt });
          }),
        );
      }),
    );
    for (const h of perName.flat()) noteTlsChecksNotRun(h, options);
    const notProbed = boundNotProbed([...leftOut, ...addressesLeftOut.flatMap((entries) => entries ?? [])]);
    const judged = mailPolicy ? await judgeByPolicy(perName.flat(), await mailPolicy) : undefined;
    return { ...base, exchangers, handshakes: perName.flat(), totalMs: elapsedSince(start), ...notProbed, mailPolicy: judged };
  } finally {
    clearTimeout(deadline);
    context.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * The mail domain whose policy applies: with mx the domain probed, else the options' policy domain.
 * Only on an MX relay port: MTA-STS and DANE are about mail between servers, not submission.
 */
function policyDomainOf(target: ProbeTarget, options: ResolvedOptions): string {
  if (options.portRole !== PortRole.PORT_ROLE_MX_RELAY || options.tlsMode === TlsMode.TLS_MODE_NONE) return "";
  if (target.mx) return target.host.toLowerCase().replace(/\.$/, "");
  return options.policyDomain;
}

/** The policy lookup, bounded by the probe's deadline; it never rejects (undefined: no answer in time). */
async function lookupPolicy(
  domain: string,
  port: number,
  resolver: TargetResolver,
  options: ResolvedOptions,
  context: ProbeContext,
  policy: TargetPolicy,
  start: number,
): Promise<MailPolicy | undefined> {
  try {
    // Loaded only when a policy is looked up: the reader (mailauth) is not needed by any other probe.
    const { lookupMailPolicy } = await import("./mail-policy/mail-policy-lookup.js");
    const left = options.deadlineMs - elapsedSince(start);
    return await lookupMailPolicy(domain, {
      resolveTxt: (name) => resolver.resolveTxt(name),
      resolveAddresses: (host) => resolver.resolveAddresses(host, options.addressFamily),
      checkName: context.checkName ?? policy.checkName,
      // The address rules of the target policy; its SMTP ports are not the question for HTTPS.
      checkAddress: (address) => (policy.checkAddress ? policy.checkAddress(address) : policy(address, port)),
      port: context.mtaStsPort,
      extraCa: context.extraCa,
      timeoutMs: Math.max(1000, Math.min(MTA_STS_FETCH_MS, left - 500)),
      signal: context.signal,
    });
  } catch (error) {
    if (error instanceof ResolveError) return undefined;
    throw error;
  }
}

/** MTA-STS fetches get at most this long (RFC 8461 §3.3 leaves it to the sender; a probe is in a hurry). */
const MTA_STS_FETCH_MS = 15_000;

async function judgeByPolicy(handshakes: HandshakeResult[], mailPolicy: MailPolicy | undefined): Promise<MailPolicy | undefined> {
  if (!mailPolicy) return undefined;
  const { applyMailPolicy } = await import("./mail-policy/policy-findings.js");
  for (const h of handshakes) applyMailPolicy(h, mailPolicy);
  return mailPolicy;
}

/** Runs the handshake once the gate gives a slot (the wait counts against the deadline), and frees it after. */
async function gatedHandshake(
  gate: ConnectGate,
  where: { host: string; exchange?: string; mxPreference?: number; address: string; port: number },
  options: ResolvedOptions,
  context: ProbeContext,
  deadlineAt: number,
  handshake: () => Promise<HandshakeResult>,
): Promise<HandshakeResult> {
  const asked = performance.now();
  // While it waits for a slot the caller sees the policy phase, not a silent connect.
  context.onProgress?.({ host: where.host, address: where.address, port: where.port, phase: Phase.PHASE_POLICY });
  const slot = await gate(where.address, where.port, { signal: context.signal, deadlineAt });
  if ("denied" in slot) {
    // A caller who went away while the probe waited cancelled it; the throttle did not stop it.
    const cancelled = context.signal?.aborted === true;
    return stoppedBeforeConnecting({
      where,
      tlsMode: options.tlsMode,
    portRole: options.portRole,
      outcome: cancelled ? Outcome.OUTCOME_CANCELLED : Outcome.OUTCOME_THROTTLED,
      phase: Phase.PHASE_POLICY,
      failureSource: cancelled ? FailureSource.FAILURE_SOURCE_INTERNAL : FailureSource.FAILURE_SOURCE_POLICY,
      reason: cancelled ? `cancelled by the caller while waiting for a connection slot (${slot.denied})` : slot.denied,
      totalMs: elapsedSince(asked),
    });
  }
  try {
    return await handshake();
  } finally {
    slot.release();
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
  return stoppedBeforeConnecting({
    where: { host, port },
    tlsMode: options.tlsMode,
    portRole: options.portRole,
    outcome: cancelled
      ? context.signal?.aborted
        ? Outcome.OUTCOME_CANCELLED
        : Outcome.OUTCOME_DEADLINE_EXCEEDED
      : Outcome.OUTCOME_DNS_FAILED,
    phase: Phase.PHASE_RESOLVE,
    failureSource: cancelled ? FailureSource.FAILURE_SOURCE_INTERNAL : FailureSource.FAILURE_SOURCE_RESOLVER,
    reason: cancelled && !context.signal?.aborted ? `the probe's deadline of ${options.deadlineMs} ms passed while resolving ${host}` : error.message,
  });
}

/** A name the policy forbids resolving: no DNS query is sent for it. */
function nameDenial(
  name: { host: string; exchange?: string; mxPreference?: number },
  port: number,
  denied: string,
  options: ResolvedOptions,
): HandshakeResult {
  return stoppedBeforeConnecting({
    where: { ...name, port },
    tlsMode: options.tlsMode,
    portRole: options.portRole,
    outcome: Outcome.OUTCOME_POLICY_DENIED,
    phase: Phase.PHASE_POLICY,
    failureSource: FailureSource.FAILURE_SOURCE_POLICY,
    reason: `the target policy forbids ${name.host}: ${denied}`,
  });
}
