import { resolveOptions } from "../../../../agents/smtp/options.js";
import { probeTarget, type ProbeContext } from "../../../../agents/smtp/probe-target.js";
import {
  Direction,
  ProbeOptions,
  type HandshakeResult,
  type Limits,
  type Timeouts,
} from "../../../../gen/smtpprobe/v1/handshake.js";

/** Short real timeouts: every test server is on loopback. */
export const FAST: Timeouts = { connectMs: 1000, bannerMs: 1500, commandMs: 1500, tlsMs: 1500, deadlineMs: 5000 };

export type OptionsInput = Partial<Omit<ProbeOptions, "timeouts" | "limits">> & {
  timeouts?: Partial<Timeouts>;
  limits?: Partial<Limits>;
};

/** Probes one address and port, returns its one handshake. */
export async function probeOnce(
  port: number,
  options: OptionsInput = {},
  context: ProbeContext = {},
  host = "127.0.0.1",
): Promise<HandshakeResult> {
  const resolved = resolveOptions(ProbeOptions.fromPartial({ ...options, timeouts: { ...FAST, ...options.timeouts } }), port, "probe.test");
  const result = await probeTarget({ host, port }, resolved, context);
  const [only] = result.handshakes;
  if (!only || result.handshakes.length !== 1) throw new Error(`expected one handshake, got ${result.handshakes.length}`);
  return only;
}

export function codes(result: HandshakeResult): string[] {
  return result.findings.map((f) => f.code);
}

export function sent(result: HandshakeResult): string[] {
  return (result.transcript?.entries ?? []).filter((e) => e.direction === Direction.DIRECTION_CLIENT).map((e) => e.text);
}
