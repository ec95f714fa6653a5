// The service bench's sections. Each one measures, then appends its rows, notes and raw data to
// the report; main (bench/service.ts) owns the processes, the watchdog and the output.
import { cpus } from "node:os";
import { EMBEDDED_REGION } from "../services/coordinator/coordinator.js";
import type { Expected, ProbeOnce, ProbeSample } from "./service-client.js";
import { connectNatsPinger } from "./service-floors.js";
import { failureTotal, measureInterleaved, measureWindow, summarizeSeries, type SeriesPlan, type SeriesSummary, type WindowResult } from "./service-measure.js";
import type { MemorySample, ServiceFlags } from "./service-processes.js";
import { heading, type ServiceRow } from "./service-report.js";
import { cpuPerProbe, cpuSnapshot, startEmbeddedCoordinator, type Stack } from "./service-stack.js";
import type { TargetProcess } from "./targets.js";

export const PLAN = {
  latency: { warmup: 20, iterations: 200, budgetMs: 25_000 } satisfies SeriesPlan,
  /** Sequential probes per way whose CPU time is read from /proc (10 ms ticks: many probes). */
  costProbes: 30,
  costBudgetMs: 6_000,
  throughput: { concurrency: 64, warmupMs: 1_000, windowMs: 5_000, maxCount: 5_000 },
  fanOut: { regions: 20, warmup: 5, iterations: 60, budgetMs: 20_000 } satisfies SeriesPlan & { regions: number },
  fanOutExperiments: { warmup: 3, iterations: 30, budgetMs: 6_000 } satisfies SeriesPlan,
  fanOutCostProbes: 15,
  /** Refused-port probes whose agents' CPU is read: many, as /proc counts in 10 ms ticks per agent. */
  fanOutRefusedCostProbes: 80,
  /** Starting the first agents (and the coordinator). */
  startTimeoutMs: 30_000,
  /** Starting the 20 fan-out agents at most; less when the run's time is running out. */
  fanOutStartTimeoutMs: 90_000,
  /** Time kept for the fan-out measurements once its agents are up. */
  fanOutMeasureMs: 50_000,
} as const;

const GOALS = {
  addedP50: { text: "≤ 1 ms added", on: "compare", max: 1 },
  fanOut: { text: "≤ 1.3×", on: "compare", max: 1.3 },
  fanOutRefused: { text: "≤ 2×", on: "compare", max: 2 },
  agentCpuOutside: { text: "≤ 0.5 ms", on: "value", max: 0.5 },
  natsPerTask: { text: "≤ 4", on: "value", max: 4 },
  errors: { text: "= 0", on: "value", max: 0 },
} as const;

export const SOLO = "solo";
export const SOLO_AGENT = "solo-1";
export const TPUT = "tput";
export const TPUT_AGENTS = ["tput-1", "tput-2"] as const;

export interface BenchReport {
  rows: ServiceRow[];
  notes: string[];
  data: Record<string, unknown>;
}

export interface BenchContext {
  stack: Stack;
  target: TargetProcess;
  /** The fixture's SMTP port, and a port nothing listens on. */
  port: number;
  refusedPort: number;
  direct: (port: number, expected?: Expected) => Promise<ProbeSample>;
  /** The policy flags for the embedded coordinator of the latency section. */
  embeddedFlags: Omit<ServiceFlags, "natsUrl">;
  report: BenchReport;
  /** performance.now() by which the run should be done. */
  runDeadline: number;
  log: (message: string) => void;
}

// ---- helpers ------------------------------------------------------------------------------------

export function pidOf(stack: Stack, agentId: string): number {
  return stack.agents.get(agentId)?.pid ?? -1;
}

function baseGroups(ctx: BenchContext): Record<string, number[]> {
  const { stack, target } = ctx;
  return { coordinator: [stack.coordinator.pid], nats: stack.natsPid === undefined ? [] : [stack.natsPid], target: [target.pid] };
}

function cpuText(cpu: Record<string, number> | undefined): string {
  if (!cpu) return "";
  return Object.entries(cpu)
    .filter(([, ms]) => Number.isFinite(ms) && ms > 0)
    .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
    .join(" · ");
}

function failureNote(report: BenchReport, label: string, s: SeriesSummary | WindowResult): void {
  if (s.firstFailure) report.notes.push(`${label}: ${failureTotal(s.failures)} failed (${JSON.stringify(s.failures)}), first: ${s.firstFailure}`);
}

interface SequentialCost {
  probes: number;
  /** CPU ms per probe of every process involved, by group, and in all. */
  cpuMsPerProbe: Record<string, number>;
  /** Messages published to nats-server per probe (its in_msgs counter), and their KB. */
  natsMsgsPerProbe?: number;
  natsKbPerProbe?: number;
}

/** Runs `run` up to `count` times one after the other: what one probe costs in CPU and NATS messages. */
async function costOfSequential(ctx: BenchContext, run: ProbeOnce, count: number, groups: Record<string, readonly number[]>): Promise<SequentialCost> {
  const natsBefore = await ctx.stack.natsCounters();
  const before = cpuSnapshot(groups);
  const end = performance.now() + PLAN.costBudgetMs;
  let done = 0;
  for (let i = 0; i < count && performance.now() < end; i += 1) {
    try {
      await run();
      done += 1;
    } catch {
      // failures are counted by the measured series; here only the cost matters
    }
  }
  const cost: SequentialCost = { probes: done, cpuMsPerProbe: cpuPerProbe(before, cpuSnapshot(groups), done) };
  const natsAfter = await ctx.stack.natsCounters();
  if (natsBefore && natsAfter && done > 0) {
    cost.natsMsgsPerProbe = (natsAfter.inMsgs - natsBefore.inMsgs) / done;
    cost.natsKbPerProbe = (natsAfter.inBytes - natsBefore.inBytes) / done / 1024;
  }
  return cost;
}

// ---- 1. latency ---------------------------------------------------------------------------------

export async function latencySection(ctx: BenchContext): Promise<void> {
  const { stack, port, report, log } = ctx;
  const e2eOnce: ProbeOnce = () => stack.client.probe([SOLO], port);
  const directOnce: ProbeOnce = () => ctx.direct(port);
  // What the machine charges for the two kinds of hop the service adds, in the same series; and
  // the same service without NATS (the embedded coordinator: its agent in-process, region local),
  // which splits the added time between the transport and the code.
  const pinger = await connectNatsPinger(stack.nats.url, SOLO_AGENT);
  const embedded = await startEmbeddedCoordinator(ctx.embeddedFlags);
  let series;
  try {
    const grpcPing: ProbeOnce = async () => ({ wallMs: await stack.client.ping(), engineMs: 0 });
    const natsPing: ProbeOnce = async () => ({ wallMs: await pinger.ping(), engineMs: 0 });
    const embeddedOnce: ProbeOnce = () => embedded.client.probe([EMBEDDED_REGION], port);
    log(`latency: ${PLAN.latency.iterations} probes each, end to end (region ${SOLO}), embedded coordinator and engine alone, interleaved with a gRPC and a NATS round trip`);
    series = await measureInterleaved({ e2e: e2eOnce, direct: directOnce, embedded: embeddedOnce, grpcPing, natsPing }, PLAN.latency);
  } finally {
    await Promise.all([pinger.close(), embedded.stop()]);
  }
  const e2e = summarizeSeries(series.e2e);
  const alone = summarizeSeries(series.direct);
  const inProcess = summarizeSeries(series.embedded);
  const grpcRtt = summarizeSeries(series.grpcPing);
  const natsRtt = summarizeSeries(series.natsPing);
  log(`latency: CPU and NATS messages per probe, ${PLAN.costProbes} sequential probes each`);
  const groups = { ...baseGroups(ctx), agent: [pidOf(stack, SOLO_AGENT)] };
  const costE2e = await costOfSequential(ctx, e2eOnce, PLAN.costProbes, groups);
  const costDirect = await costOfSequential(ctx, directOnce, PLAN.costProbes, groups);

  report.rows.push(
    heading(`1. Latency, one region, one port, sequential: end to end (value) vs engine alone in the bench process (baseline), interleaved, n = ${e2e.n} / ${alone.n}`),
    { metric: "probe p50, ms", value: e2e.wallMs.p50, baseline: alone.wallMs.p50, compare: "added", digits: 2, goal: GOALS.addedP50 },
    { metric: "probe p99, ms", value: e2e.wallMs.p99, baseline: alone.wallMs.p99, compare: "added", digits: 2 },
    { metric: "  engine's own time (total_ms) p50, ms", value: e2e.engineMs.p50, baseline: alone.engineMs.p50, compare: "added", digits: 2 },
    { metric: "  outside the engine (wall − total_ms) p50, ms", value: e2e.outsideEngineMs.p50, baseline: alone.outsideEngineMs.p50, compare: "added", digits: 2 },
    { metric: "  outside the engine p99, ms", value: e2e.outsideEngineMs.p99, baseline: alone.outsideEngineMs.p99, compare: "added", digits: 2 },
    // The coordinator's duration_ms is whole milliseconds from Date: its mean, not its p50, is usable.
    { metric: "  gRPC side: wall − coordinator's duration_ms, mean, ms", value: e2e.wallMs.mean - (e2e.coordinatorMs?.mean ?? Number.NaN), digits: 2 },
    { metric: "  dispatch: duration_ms − engine's total_ms, mean, ms", value: (e2e.coordinatorMs?.mean ?? Number.NaN) - e2e.engineMs.mean, digits: 2 },
    { metric: "  without NATS (embedded coordinator, agent in-process) p50, ms", value: inProcess.wallMs.p50, baseline: alone.wallMs.p50, compare: "added", digits: 2 },
    { metric: "    embedded: outside the engine p50, ms", value: inProcess.outsideEngineMs.p50, baseline: alone.outsideEngineMs.p50, compare: "added", digits: 2 },
    { metric: "  machine: empty gRPC call round trip p50 | mean, ms", value: grpcRtt.wallMs.p50, baseline: grpcRtt.wallMs.mean, digits: 2 },
    { metric: "  machine: NATS round trip bench → agent p50 | mean, ms", value: natsRtt.wallMs.p50, baseline: natsRtt.wallMs.mean, digits: 2 },
    { metric: "  CPU per probe, all processes, ms", value: costE2e.cpuMsPerProbe.total, baseline: costDirect.cpuMsPerProbe.total, compare: "added", digits: 2 },
    { metric: "  NATS messages per probe (published to the server)", value: costE2e.natsMsgsPerProbe, digits: 1 },
    { metric: "  failed probes", value: failureTotal(e2e.failures), baseline: failureTotal(alone.failures), digits: 0, goal: GOALS.errors },
  );
  report.notes.push(`CPU per probe, ms, end to end: ${cpuText(costE2e.cpuMsPerProbe)}`, `CPU per probe, ms, engine alone: ${cpuText(costDirect.cpuMsPerProbe)}`);
  failureNote(report, "latency, end to end", e2e);
  failureNote(report, "latency, engine alone", alone);
  failureNote(report, "latency, embedded coordinator", inProcess);
  failureNote(report, "gRPC round trip", grpcRtt);
  failureNote(report, "NATS round trip", natsRtt);
  report.data.latency = { e2e, direct: alone, embedded: inProcess, grpcRoundTrip: grpcRtt, natsRoundTrip: natsRtt, cost: { e2e: costE2e, direct: costDirect } };
}

// ---- 3. throughput ------------------------------------------------------------------------------

interface ThroughputRun {
  label: string;
  window: WindowResult;
  cpuMsPerProbe: Record<string, number>;
}

async function throughput(ctx: BenchContext, label: string, run: ProbeOnce, groups: Record<string, readonly number[]>): Promise<ThroughputRun> {
  const { concurrency, warmupMs, windowMs, maxCount } = PLAN.throughput;
  ctx.log(`throughput: ${label}, concurrency ${concurrency}, ${windowMs} ms after ${warmupMs} ms warm-up`);
  await measureWindow(run, concurrency, warmupMs, maxCount);
  const before = cpuSnapshot(groups);
  const window = await measureWindow(run, concurrency, windowMs, maxCount);
  return { label, window, cpuMsPerProbe: cpuPerProbe(before, cpuSnapshot(groups), window.completed) };
}

export async function throughputSection(ctx: BenchContext): Promise<void> {
  const { stack, port, report } = ctx;
  const base = baseGroups(ctx);
  const alone = await throughput(ctx, "engine alone in the bench process", () => ctx.direct(port), base);
  const one = await throughput(ctx, `end to end, region ${SOLO} (1 agent, concurrency 32)`, () => stack.client.probe([SOLO], port), {
    ...base,
    agent: [pidOf(stack, SOLO_AGENT)],
  });
  const two = await throughput(ctx, `end to end, region ${TPUT} (2 agents)`, () => stack.client.probe([TPUT], port), {
    ...base,
    agent: TPUT_AGENTS.map((id) => pidOf(stack, id)),
  });
  const errors = (w: WindowResult): number => failureTotal(w.failures);
  const { concurrency, windowMs } = PLAN.throughput;
  report.rows.push(
    heading(`3. Throughput, one region, one port, concurrency ${concurrency}, ${windowMs / 1000} s window: end to end (value) vs engine alone (baseline)`),
    { metric: "probes/s, 1 agent", value: one.window.perSecond, baseline: alone.window.perSecond, compare: "ratio", digits: 0 },
    { metric: "probes/s, 2 agents", value: two.window.perSecond, baseline: alone.window.perSecond, compare: "ratio", digits: 0 },
    { metric: "  probes completed, 1 agent | 2 agents", value: one.window.completed, baseline: two.window.completed, digits: 0 },
    { metric: "  failed probes (any kind), 1 agent", value: errors(one.window), digits: 0, goal: GOALS.errors },
    { metric: "  failed probes (any kind), 2 agents", value: errors(two.window), digits: 0, goal: GOALS.errors },
    { metric: "  of which tasks not DONE, 1 agent | 2 agents", value: one.window.failures.task_not_done ?? 0, baseline: two.window.failures.task_not_done ?? 0, digits: 0 },
    { metric: "  engine alone: failed probes", value: errors(alone.window), digits: 0 },
    { metric: "  latency p50 under load, 1 agent, ms", value: one.window.latencyMs.p50, baseline: alone.window.latencyMs.p50, compare: "ratio", digits: 1 },
    { metric: "  latency p50 under load, 2 agents, ms", value: two.window.latencyMs.p50, baseline: alone.window.latencyMs.p50, compare: "ratio", digits: 1 },
    { metric: "  CPU per probe, all processes, 1 agent, ms", value: one.cpuMsPerProbe.total, baseline: alone.cpuMsPerProbe.total, compare: "added", digits: 2 },
    { metric: "  CPU per probe, all processes, 2 agents, ms", value: two.cpuMsPerProbe.total, baseline: alone.cpuMsPerProbe.total, compare: "added", digits: 2 },
  );
  for (const run of [alone, one, two]) {
    report.notes.push(`throughput CPU per probe, ms, ${run.label}: ${cpuText(run.cpuMsPerProbe)}`);
    failureNote(report, `throughput, ${run.label}`, run.window);
  }
  report.data.throughput = { engineAlone: alone, oneAgent: one, twoAgents: two };
}

// ---- 2. fan-out ---------------------------------------------------------------------------------

export interface FanOut {
  agentIds: string[];
  /** RSS of each, KB, right after discovery. */
  idleRssKb: number[];
}

export async function fanOutSection(ctx: BenchContext): Promise<FanOut | undefined> {
  const { stack, port, refusedPort, report, log } = ctx;
  const count = PLAN.fanOut.regions;
  const specs = Array.from({ length: count }, (_, i) => {
    const region = `fan-${String(i + 1).padStart(2, "0")}`;
    return { region, agentId: `${region}-1` };
  });
  const timeoutMs = Math.max(10_000, Math.min(PLAN.fanOutStartTimeoutMs, ctx.runDeadline - performance.now() - PLAN.fanOutMeasureMs));
  log(`fan-out: starting ${count} agents in parallel (waiting at most ${(timeoutMs / 1000).toFixed(0)} s for discovery)`);
  const started = await stack.startAgents(specs, timeoutMs);
  const regions = specs.filter((s) => started.discovered.includes(s.agentId)).map((s) => s.region);
  log(`fan-out: ${regions.length} of ${count} agents discovered after ${(started.ms / 1000).toFixed(1)} s`);
  const fan: FanOut = {
    agentIds: specs.map((s) => s.agentId),
    idleRssKb: specs.map((s) => stack.memory(pidOf(stack, s.agentId))?.rssKb ?? Number.NaN),
  };
  const [oneRegion] = regions;
  if (oneRegion === undefined || regions.length < 2) {
    report.rows.push(heading(`2. Fan-out: skipped, ${regions.length} of ${count} agents discovered within ${(timeoutMs / 1000).toFixed(0)} s`));
    report.data.fanOut = { skipped: true, start: started };
    return fan;
  }
  const n = regions.length;
  const partial = n < count ? ` — ONLY ${n} OF ${count} AGENTS CAME UP IN TIME` : "";

  log(`fan-out: ${PLAN.fanOut.iterations} probes each, 1 region vs ${n}, interleaved`);
  const series = await measureInterleaved({ one: () => stack.client.probe([oneRegion], port), all: () => stack.client.probe(regions, port) }, PLAN.fanOut);
  const one = summarizeSeries(series.one);
  const all = summarizeSeries(series.all);

  // Experiments that split coordination from CPU contention.
  log("fan-out experiments: a refused port (no handshake at all), the engine alone n at once, CPU per probe");
  const refusedSeries = await measureInterleaved(
    { one: () => stack.client.probe([oneRegion], refusedPort, "refused"), all: () => stack.client.probe(regions, refusedPort, "refused") },
    PLAN.fanOutExperiments,
  );
  const refusedOne = summarizeSeries(refusedSeries.one);
  const refusedAll = summarizeSeries(refusedSeries.all);
  const parallelSeries = await measureInterleaved(
    {
      one: () => ctx.direct(port),
      all: async () => {
        const start = performance.now();
        const samples = await Promise.all(regions.map(() => ctx.direct(port)));
        return { wallMs: performance.now() - start, engineMs: Math.max(...samples.map((s) => s.engineMs)) };
      },
    },
    PLAN.fanOutExperiments,
  );
  const parallelOne = summarizeSeries(parallelSeries.one);
  const parallelAll = summarizeSeries(parallelSeries.all);
  const groups = { ...baseGroups(ctx), agents: specs.map((s) => pidOf(stack, s.agentId)) };
  const costOne = await costOfSequential(ctx, () => stack.client.probe([oneRegion], port), PLAN.fanOutCostProbes, groups);
  const costAll = await costOfSequential(ctx, () => stack.client.probe(regions, port), PLAN.fanOutCostProbes, groups);
  const costRefusedOne = await costOfSequential(ctx, () => stack.client.probe([oneRegion], refusedPort, "refused"), PLAN.fanOutCostProbes, groups);
  const refusedStart = performance.now();
  const costRefusedAll = await costOfSequential(ctx, () => stack.client.probe(regions, refusedPort, "refused"), PLAN.fanOutRefusedCostProbes, groups);
  const refusedMs = performance.now() - refusedStart;
  // What the agents spend with no task at all over as long (discovery's stats, timers), apart.
  const idleBefore = cpuSnapshot({ agents: groups.agents });
  const idleMs = Math.min(refusedMs, 3_000);
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const idleAgentsMs = ((cpuSnapshot({ agents: groups.agents }).agents ?? 0) - (idleBefore.agents ?? 0)) * (refusedMs / idleMs);
  // The engine's own CPU for a refused port, in this process: what an agent's task needs at least.
  const costDirectRefused = await costOfSequential(ctx, () => ctx.direct(refusedPort, "refused"), PLAN.fanOutRefusedCostProbes * 2, {});
  const refusedTasks = costRefusedAll.probes * n;
  const agentCpuPerTask = refusedTasks > 0 ? ((costRefusedAll.cpuMsPerProbe.agents ?? Number.NaN) * costRefusedAll.probes - idleAgentsMs) / refusedTasks : Number.NaN;
  const engineRefusedCpu = costDirectRefused.cpuMsPerProbe.bench ?? Number.NaN;
  const cores = cpus().length;
  const floor = (cost: SequentialCost): number => (cost.cpuMsPerProbe.total ?? Number.NaN) / cores;

  report.rows.push(
    heading(`2. Fan-out, one port, sequential: ${n} regions, one agent process each (value) vs 1 region (baseline), interleaved, n = ${all.n} / ${one.n}${partial}`),
    { metric: `probe p50 (value) vs the engine alone doing the same ${n} handshakes at once (baseline), ms`, value: all.wallMs.p50, baseline: parallelAll.wallMs.p50, compare: "ratio", digits: 2, goal: GOALS.fanOut },
    { metric: "probe p50, ms", value: all.wallMs.p50, baseline: one.wallMs.p50, compare: "ratio", digits: 2 },
    { metric: "probe p99, ms", value: all.wallMs.p99, baseline: one.wallMs.p99, compare: "ratio", digits: 2 },
    { metric: "  slowest region's engine time (total_ms) p50, ms", value: all.engineMs.p50, baseline: one.engineMs.p50, compare: "ratio", digits: 2 },
    { metric: "  outside the slowest engine (wall − total_ms) p50, ms", value: all.outsideEngineMs.p50, baseline: one.outsideEngineMs.p50, compare: "added", digits: 2 },
    { metric: "  CPU per probe, all processes, ms", value: costAll.cpuMsPerProbe.total, baseline: costOne.cpuMsPerProbe.total, compare: "ratio", digits: 1 },
    { metric: `  CPU floor = CPU per probe ÷ ${cores} cores, ms`, value: floor(costAll), baseline: floor(costOne), compare: "ratio", digits: 1 },
    { metric: "  coordinator CPU per probe, ms", value: costAll.cpuMsPerProbe.coordinator, baseline: costOne.cpuMsPerProbe.coordinator, compare: "ratio", digits: 1 },
    { metric: "  NATS messages per probe", value: costAll.natsMsgsPerProbe, baseline: costOne.natsMsgsPerProbe, compare: "ratio", digits: 1 },
    { metric: `  NATS messages per task (${n} regions)`, value: (costAll.natsMsgsPerProbe ?? Number.NaN) / n, digits: 2, goal: GOALS.natsPerTask },
    { metric: "  failed probes", value: failureTotal(all.failures), baseline: failureTotal(one.failures), digits: 0, goal: GOALS.errors },
    { metric: "  experiment: refused port (coordination only) p50, ms", value: refusedAll.wallMs.p50, baseline: refusedOne.wallMs.p50, compare: "ratio", digits: 2, goal: GOALS.fanOutRefused },
    { metric: "    refused port: an agent's CPU per task outside the engine, ms", value: agentCpuPerTask - engineRefusedCpu, digits: 2, goal: GOALS.agentCpuOutside },
    { metric: "    refused port: an agent's CPU per task (idle CPU taken out) | the engine alone's, ms", value: agentCpuPerTask, baseline: engineRefusedCpu, digits: 2 },
    { metric: "    refused port: the agents' idle CPU over as long, per task, ms", value: refusedTasks > 0 ? idleAgentsMs / refusedTasks : Number.NaN, digits: 2 },
    { metric: "    refused port: CPU per probe, all processes, ms", value: costRefusedAll.cpuMsPerProbe.total, baseline: costRefusedOne.cpuMsPerProbe.total, compare: "ratio", digits: 1 },
    { metric: "    refused port: coordinator CPU per probe, ms", value: costRefusedAll.cpuMsPerProbe.coordinator, baseline: costRefusedOne.cpuMsPerProbe.coordinator, compare: "ratio", digits: 1 },
    { metric: `  experiment: engine alone, ${n} at once vs 1, p50, ms`, value: parallelAll.wallMs.p50, baseline: parallelOne.wallMs.p50, compare: "ratio", digits: 2 },
    { metric: `  ${count} agents started, ${n} discovered, s`, value: started.ms / 1000, digits: 1 },
  );
  report.notes.push(
    `fan-out CPU per probe, ms, ${n} regions: ${cpuText(costAll.cpuMsPerProbe)}`,
    `fan-out CPU per probe, ms, 1 region: ${cpuText(costOne.cpuMsPerProbe)}`,
    `refused port CPU per probe, ms, ${n} regions: ${cpuText(costRefusedAll.cpuMsPerProbe)}`,
    `refused port CPU per probe, ms, 1 region: ${cpuText(costRefusedOne.cpuMsPerProbe)}`,
  );
  for (const [label, s] of [
    ["fan-out 1 region", one],
    [`fan-out ${n} regions`, all],
    ["refused port 1 region", refusedOne],
    [`refused port ${n} regions`, refusedAll],
    ["engine alone 1", parallelOne],
    [`engine alone ${n} at once`, parallelAll],
  ] as const) {
    failureNote(report, label, s);
  }
  report.data.fanOut = {
    regions,
    start: started,
    oneRegion: one,
    allRegions: all,
    cost: { one: costOne, all: costAll, refusedOne: costRefusedOne, refusedAll: costRefusedAll, directRefused: costDirectRefused },
    experiments: { refusedPort: { one: refusedOne, all: refusedAll }, engineAloneAtOnce: { one: parallelOne, all: parallelAll } },
  };
  return fan;
}

// ---- 4. memory ----------------------------------------------------------------------------------

export interface IdleMemory {
  coordinator?: MemorySample;
  soloAgent?: MemorySample;
  tputAgents: (MemorySample | undefined)[];
  nats?: MemorySample;
}

export function idleMemory(stack: Stack): IdleMemory {
  return {
    coordinator: stack.memory(stack.coordinator.pid),
    soloAgent: stack.memory(pidOf(stack, SOLO_AGENT)),
    tputAgents: TPUT_AGENTS.map((id) => stack.memory(pidOf(stack, id))),
    nats: stack.natsPid === undefined ? undefined : stack.memory(stack.natsPid),
  };
}

const mb = (kb: number | undefined): number | undefined => (kb === undefined ? undefined : kb / 1024);

function median(values: readonly number[]): number | undefined {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[Math.floor((sorted.length - 1) / 2)];
}

const sum = (values: readonly number[]): number => values.filter(Number.isFinite).reduce((a, b) => a + b, 0);

export function memorySection(ctx: BenchContext, idle: IdleMemory, fan: FanOut | undefined): void {
  const { stack, report } = ctx;
  const after = { ...idleMemory(stack), fanAgents: (fan?.agentIds ?? []).map((id) => stack.memory(pidOf(stack, id))?.rssKb ?? Number.NaN) };
  const largest = (samples: (MemorySample | undefined)[]): number => Math.max(...samples.map((m) => m?.rssKb ?? Number.NaN));
  report.rows.push(
    heading("4. Memory: RSS (VmRSS) after the runs (value) vs idle after start (baseline), MB"),
    { metric: "coordinator", value: mb(after.coordinator?.rssKb), baseline: mb(idle.coordinator?.rssKb), compare: "added", digits: 1 },
    { metric: "  coordinator peak (VmHWM)", value: mb(after.coordinator?.hwmKb), digits: 1 },
    { metric: `agent ${SOLO_AGENT} (latency; throughput with 1 agent)`, value: mb(after.soloAgent?.rssKb), baseline: mb(idle.soloAgent?.rssKb), compare: "added", digits: 1 },
    { metric: `  agent ${SOLO_AGENT} peak (VmHWM)`, value: mb(after.soloAgent?.hwmKb), digits: 1 },
    { metric: "agents tput-1/2 (throughput with 2 agents), larger", value: mb(largest(after.tputAgents)), baseline: mb(largest(idle.tputAgents)), compare: "added", digits: 1 },
  );
  if (fan) {
    report.rows.push(
      { metric: `fan-out agents, median of ${fan.agentIds.length}`, value: mb(median(after.fanAgents)), baseline: mb(median(fan.idleRssKb)), compare: "added", digits: 1 },
      { metric: `  fan-out agents, all ${fan.agentIds.length} together`, value: mb(sum(after.fanAgents)), baseline: mb(sum(fan.idleRssKb)), compare: "added", digits: 0 },
    );
  }
  report.rows.push({ metric: "nats-server", value: mb(after.nats?.rssKb), baseline: mb(idle.nats?.rssKb), compare: "added", digits: 1 });
  report.data.memoryKb = { idle: { ...idle, fanAgents: fan?.idleRssKb }, after };
}
