// Section 0 of the service bench: smtp-probe next to blackbox_exporter, the tool operators already
// run for "is this SMTP port up, with STARTTLS", against the same target — a private Postfix port
// with TLS 1.2 only and no session tickets (bench/service.ts starts it) — in one run. Sequential
// probes of all four ways interleaved probe by probe, then each way alone at a fixed concurrency,
// with the server side's CPU per probe read from /proc.
import { failureTotal, measureInterleaved, measureWindow, summarizeSeries, type SeriesPlan, type WindowResult } from "./service-measure.js";
import { heading, type ServiceGoal } from "./service-report.js";
import type { Blackbox } from "./blackbox.js";
import type { ProbeOnce, ServiceClient } from "./service-client.js";
import { cpuPerProbe, cpuSnapshot } from "./service-stack.js";
import { pidOf, SOLO, SOLO_AGENT, type BenchContext } from "./service-sections.js";

export const PEER_PLAN = {
  latency: { warmup: 20, iterations: 200, budgetMs: 30_000 } satisfies SeriesPlan,
  throughput: { concurrency: 32, warmupMs: 1_000, windowMs: 6_000, maxCount: 20_000 },
} as const;

const GOALS = {
  natsP50: { text: "≤ 0.9×", on: "compare", max: 0.9 },
  embeddedP50: { text: "≤ 0.8×", on: "compare", max: 0.8 },
  natsRate: { text: "≥ 1.0×", on: "compare", min: 1.0 },
  embeddedRate: { text: "≥ 1.2×", on: "compare", min: 1.2 },
  natsCpu: { text: "≤ 1.0×", on: "compare", max: 1.0 },
  addedP50: { text: "≤ 1 ms added", on: "compare", max: 1 },
  errors: { text: "= 0", on: "value", max: 0 },
} as const satisfies Record<string, ServiceGoal>;

export interface PeerContext {
  host: string;
  /** The Postfix port: STARTTLS, TLS 1.2 only, no session tickets. */
  port: number;
  blackbox: Blackbox;
  /** The embedded coordinator (no NATS) and its process id. */
  embedded: { client: ServiceClient; pid: number };
}

interface Rate {
  window: WindowResult;
  cpuMsPerProbe: Record<string, number>;
}

export async function peerSection(ctx: BenchContext, peer: PeerContext): Promise<void> {
  const { stack, report, log } = ctx;
  const { host, port, blackbox, embedded } = peer;
  const ways: Record<string, ProbeOnce> = {
    blackbox: () => blackbox.probe(host, port),
    embedded: () => embedded.client.probe(["local"], port),
    nats: () => stack.client.probe([SOLO], port),
    engine: () => ctx.direct(port),
  };
  log(`peer: blackbox_exporter, embedded, via NATS and the engine alone, ${PEER_PLAN.latency.iterations} each, interleaved (Postfix 127.0.0.1:${port}, TLS 1.2, no tickets)`);
  const series = await measureInterleaved(ways, PEER_PLAN.latency);
  const s = Object.fromEntries(Object.entries(series).map(([name, result]) => [name, summarizeSeries(result)]));
  const bb = s.blackbox;
  const emb = s.embedded;
  const nats = s.nats;
  const eng = s.engine;
  if (!bb || !emb || !nats || !eng) throw new Error("a peer series is missing");

  const { concurrency, warmupMs, windowMs, maxCount } = PEER_PLAN.throughput;
  const groups = {
    blackbox: { blackbox: [blackbox.process.pid] },
    embedded: { coordinator: [embedded.pid] },
    nats: { coordinator: [stack.coordinator.pid], nats: stack.natsPid === undefined ? [] : [stack.natsPid], agent: [pidOf(stack, SOLO_AGENT)] },
    engine: {},
  } as Record<string, Record<string, number[]>>;
  const rates: Record<string, Rate> = {};
  for (const [name, run] of Object.entries(ways)) {
    log(`peer: ${name}, concurrency ${concurrency}, ${windowMs} ms after ${warmupMs} ms warm-up`);
    await measureWindow(run, concurrency, warmupMs, maxCount);
    const g = groups[name] ?? {};
    const before = cpuSnapshot(g);
    const window = await measureWindow(run, concurrency, windowMs, maxCount);
    rates[name] = { window, cpuMsPerProbe: cpuPerProbe(before, cpuSnapshot(g), window.completed) };
  }
  // Server side: every process but the bench (the client) and the target.
  const serverCpu = (name: string): number | undefined => {
    const cpu = rates[name]?.cpuMsPerProbe;
    if (!cpu) return undefined;
    return Object.entries(cpu)
      .filter(([group]) => group !== "bench" && group !== "total")
      .reduce((sum, [, ms]) => sum + ms, 0);
  };
  const rate = (name: string): number | undefined => rates[name]?.window.perSecond;
  const failed = (name: string): number => failureTotal(series[name]?.failures ?? {}) + failureTotal(rates[name]?.window.failures ?? {});

  report.rows.push(
    heading(`0. Peer, one port (Postfix STARTTLS, TLS 1.2, no tickets): smtp-probe (value) vs blackbox_exporter /probe (baseline), n = ${nats.n} / ${bb.n} interleaved, then concurrency ${concurrency} for ${windowMs / 1000} s each`),
    { metric: "p50, coordinator → NATS → agent, ms", value: nats.wallMs.p50, baseline: bb.wallMs.p50, compare: "ratio", digits: 2, goal: GOALS.natsP50 },
    { metric: "p50, embedded coordinator, ms", value: emb.wallMs.p50, baseline: bb.wallMs.p50, compare: "ratio", digits: 2, goal: GOALS.embeddedP50 },
    { metric: "  p50, engine alone in the bench, ms", value: eng.wallMs.p50, baseline: bb.wallMs.p50, compare: "ratio", digits: 2 },
    { metric: "  p90, coordinator → NATS → agent, ms", value: nats.wallMs.p90, baseline: bb.wallMs.p90, compare: "ratio", digits: 2 },
    { metric: "  p90, embedded coordinator, ms", value: emb.wallMs.p90, baseline: bb.wallMs.p90, compare: "ratio", digits: 2 },
    { metric: `probes/s at c=${concurrency}, coordinator → NATS → agent`, value: rate("nats"), baseline: rate("blackbox"), compare: "ratio", digits: 0, goal: GOALS.natsRate },
    { metric: `probes/s at c=${concurrency}, embedded coordinator`, value: rate("embedded"), baseline: rate("blackbox"), compare: "ratio", digits: 0, goal: GOALS.embeddedRate },
    { metric: `  probes/s at c=${concurrency}, engine alone in the bench`, value: rate("engine"), baseline: rate("blackbox"), compare: "ratio", digits: 0 },
    { metric: "server-side CPU per probe (coordinator + nats-server + agent), ms", value: serverCpu("nats"), baseline: serverCpu("blackbox"), compare: "ratio", digits: 2, goal: GOALS.natsCpu },
    { metric: "  server-side CPU per probe, embedded coordinator, ms", value: serverCpu("embedded"), baseline: serverCpu("blackbox"), compare: "ratio", digits: 2 },
    { metric: "end to end via NATS vs engine alone, p50, ms", value: nats.wallMs.p50, baseline: eng.wallMs.p50, compare: "added", digits: 2, goal: GOALS.addedP50 },
    { metric: "  embedded vs engine alone, p50, ms", value: emb.wallMs.p50, baseline: eng.wallMs.p50, compare: "added", digits: 2 },
    { metric: "  engine's own time (total_ms) p50, via NATS | alone, ms", value: nats.engineMs.p50, baseline: eng.engineMs.p50, compare: "added", digits: 2 },
    { metric: "  failed probes, smtp-probe (all ways) | blackbox_exporter", value: failed("nats") + failed("embedded") + failed("engine"), baseline: failed("blackbox"), digits: 0, goal: GOALS.errors },
  );
  for (const [name, r] of Object.entries(rates)) {
    report.notes.push(
      `peer, c=${concurrency}, ${name}: ${r.window.perSecond.toFixed(0)} probes/s, p50 ${r.window.latencyMs.p50.toFixed(1)} ms; CPU per probe, ms: ${Object.entries(r.cpuMsPerProbe)
        .map(([g, ms]) => `${g} ${ms.toFixed(2)}`)
        .join(" · ")}`,
    );
    if (r.window.firstFailure) report.notes.push(`peer, c=${concurrency}, ${name}: first failure: ${r.window.firstFailure}`);
  }
  for (const [name, summary] of Object.entries(s)) if (summary.firstFailure) report.notes.push(`peer, sequential, ${name}: first failure: ${summary.firstFailure}`);
  report.data.peer = { port, sequential: s, concurrency: rates };
}
