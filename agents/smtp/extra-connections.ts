// Connections a probe opens beyond its handshake (the TLS scan, the STARTTLS-enforcement check),
// held to the same rules as the handshake's own: the target policy before connecting, a slot from
// the destination throttle (the ConnectGate), the connect timeout, and the policy once more on the
// peer the socket reports, before a byte is exchanged. A connection that cannot be had is data
// (why, and whether it is worth trying again), never a throw.
import { connect as netConnect, isIP, type Socket } from "node:net";
import { formatHostPort } from "../../lib/host-port.js";
import type { TargetPolicy } from "../../lib/policy/policy-types.js";
import { classifyConnectError } from "./failure-mapping.js";
import { waitForSocketEvent } from "./session.js";

/**
 * Asked for a slot before each connection (probe-target.ts describes it): resolves with a release,
 * called when that connection ends, or a denial saying which limit.
 */
export type ConnectGate = (
  address: string,
  port: number,
  context: { signal?: AbortSignal; deadlineAt: number },
) => Promise<{ release(): void } | { denied: string }>;

/** A connection that is open, and what closes it and frees its slot. */
export interface OpenedConnection {
  socket: Socket;
  /** Destroys the socket and gives the slot back; idempotent. */
  close(): void;
}

/** Why no connection: `final` when trying again is pointless (policy, throttle, cancel, deadline). */
export interface NoConnection {
  reason: string;
  final: boolean;
}

/** One connection; `signal` (the caller's own end, e.g. a scan's bound) ends a wait for a slot too. */
export type OpenConnection = (signal?: AbortSignal) => Promise<OpenedConnection | NoConnection>;

export interface ConnectionRules {
  address: string;
  port: number;
  policy: TargetPolicy;
  gate?: ConnectGate;
  signal?: AbortSignal;
  /** The deadline of the whole probe (performance.now() ms): no slot is waited for past it. */
  deadlineAt: number;
  connectMs: number;
}

/** Opens connections to one address and port under the rules; each call is one connection. */
export function connectionOpener(rules: ConnectionRules): OpenConnection {
  return async (own) => {
    const { address, port } = rules;
    const signals = [rules.signal, own].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    if (signal?.aborted) return { reason: "cancelled", final: true };
    const denied = rules.policy(address, port);
    if (denied !== undefined) return { reason: `the target policy forbids ${address} port ${port}: ${denied.reason}`, final: true };
    let release = (): void => undefined;
    if (rules.gate) {
      const slot = await rules.gate(address, port, { signal, deadlineAt: rules.deadlineAt });
      if ("denied" in slot) return { reason: signal?.aborted ? "cancelled" : slot.denied, final: true };
      release = once(() => slot.release());
    }
    const socket = netConnect({ host: address, port, family: isIP(address) || undefined });
    socket.setNoDelay(true);
    const close = once(() => {
      socket.destroy();
      release();
    });
    const timeoutMs = Math.max(1, Math.min(rules.connectMs, rules.deadlineAt - performance.now()));
    try {
      await waitForSocketEvent(socket, "connect", timeoutMs);
    } catch (error) {
      close();
      return { reason: classifyConnectError(error, formatHostPort(address, port)).reason, final: false };
    }
    const peerDenied = checkConnectedPeer(rules.policy, address, port, socket.remoteAddress ?? "", socket.remotePort ?? 0);
    if (peerDenied !== undefined) {
      close();
      return { reason: peerDenied, final: true };
    }
    return { socket, close };
  };
}

export function isOpened(connection: OpenedConnection | NoConnection): connection is OpenedConnection {
  return "socket" in connection;
}

/**
 * The peer the socket reports must be the address the policy allowed, and still allowed: the
 * last word before a byte is exchanged (whatever resolved or rerouted on the way).
 */
export function checkConnectedPeer(policy: TargetPolicy, checked: string, port: number, remote: string, remotePort: number): string | undefined {
  if (remotePort !== port || (remote !== checked && canonicalIp(remote) !== canonicalIp(checked))) {
    return `the connection reached ${remote || "an unknown address"} port ${remotePort}, not the checked ${checked} port ${port}`;
  }
  return policy(remote, remotePort)?.reason;
}

/** One spelling per address ("::FFFF:127.0.0.1" and "::ffff:7f00:1" alike); only off the fast path. */
function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  try {
    return new URL(`http://[${address}]/`).hostname;
  } catch {
    return address;
  }
}

/** Aborts at the deadline or with the caller's signal. */
export function deadlineSignal(deadlineAt: number, signal: AbortSignal | undefined): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  const timer = setTimeout(abort, Math.max(0, deadlineAt - performance.now()));
  signal?.addEventListener("abort", abort, { once: true });
  if (signal?.aborted) abort();
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    },
  };
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
