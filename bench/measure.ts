// The two measurements of the bench, both bounded in count and in time: sequential latency
// (clients interleaved handshake by handshake, so that drift hits them alike) and throughput
// at a fixed concurrency over a fixed window (ABBA order for the same reason).
import { summarize, type Summary } from "./stats.js";
import type { RunOnce } from "./clients.js";

export interface LatencyResult {
  /** Handshake wall time, ms. */
  latencyMs: Summary;
  /** This process's CPU time (user + system) per handshake, µs: the client's own cost. */
  cpuUs: Summary;
  failures: number;
  firstFailure?: string;
}

export interface SequentialPlan {
  warmup: number;
  iterations: number;
  /** Stops early (with fewer iterations, reported as n) when this is spent. */
  budgetMs: number;
}

/** Runs every client `iterations` times, round-robin in a rotating order, after a warm-up. */
export async function measureSequential(clients: Record<string, RunOnce>, plan: SequentialPlan): Promise<Record<string, LatencyResult>> {
  const names = Object.keys(clients);
  const samples = new Map(names.map((name) => [name, { ms: [] as number[], cpu: [] as number[], failures: 0, firstFailure: undefined as string | undefined }]));
  const runOne = async (name: string, record: boolean): Promise<void> => {
    const run = clients[name];
    const sample = samples.get(name);
    if (!run || !sample) return;
    const cpu = process.cpuUsage();
    const start = performance.now();
    try {
      await run();
    } catch (error) {
      sample.failures += 1;
      sample.firstFailure ??= error instanceof Error ? error.message : String(error);
      return;
    }
    const ms = performance.now() - start;
    const used = process.cpuUsage(cpu);
    if (!record) return;
    sample.ms.push(ms);
    sample.cpu.push(used.user + used.system);
  };
  for (let i = 0; i < plan.warmup; i += 1) {
    for (const name of names) await runOne(name, false);
  }
  const deadline = performance.now() + plan.budgetMs;
  for (let i = 0; i < plan.iterations && performance.now() < deadline; i += 1) {
    // Rotate who goes first, so no client always runs right after another one's close.
    for (let k = 0; k < names.length; k += 1) await runOne(names[(i + k) % names.length] ?? "", true);
  }
  return Object.fromEntries(
    names.map((name) => {
      const sample = samples.get(name) ?? { ms: [], cpu: [], failures: 0, firstFailure: undefined };
      const result: LatencyResult = { latencyMs: summarize(sample.ms), cpuUs: summarize(sample.cpu), failures: sample.failures };
      if (sample.firstFailure) result.firstFailure = sample.firstFailure;
      return [name, result];
    }),
  );
}

export interface ThroughputResult {
  concurrency: number;
  completed: number;
  failures: number;
  seconds: number;
  perSecond: number;
  /** This process's CPU time per completed handshake, µs. */
  clientCpuUs: number;
  /** The target process's CPU time per completed handshake, µs (when it can be read). */
  serverCpuUs?: number;
  firstFailure?: string;
}

/** CPU time a target process has used so far, µs; undefined for targets that cannot tell. */
export type ServerCpu = (() => Promise<number>) | undefined;

/**
 * `concurrency` workers, each starting a new handshake as soon as its last one ended, until
 * the window closes or `maxCount` handshakes were started. The rate counts completed handshakes
 * over the time until the last one ended.
 */
async function runWindow(run: RunOnce, concurrency: number, windowMs: number, maxCount: number, serverCpu: ServerCpu): Promise<ThroughputResult> {
  const serverBefore = await serverCpu?.();
  const cpu = process.cpuUsage();
  let started = 0;
  let completed = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const begin = performance.now();
  const end = begin + windowMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end && started < maxCount) {
      started += 1;
      try {
        await run();
        completed += 1;
      } catch (error) {
        failures += 1;
        firstFailure ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - begin) / 1000;
  const used = process.cpuUsage(cpu);
  const serverAfter = await serverCpu?.();
  const result: ThroughputResult = {
    concurrency,
    completed,
    failures,
    seconds,
    perSecond: completed / seconds,
    clientCpuUs: completed > 0 ? (used.user + used.system) / completed : Number.NaN,
  };
  if (serverBefore !== undefined && serverAfter !== undefined && completed > 0) result.serverCpuUs = (serverAfter - serverBefore) / completed;
  if (firstFailure) result.firstFailure = firstFailure;
  return result;
}

function merge(parts: ThroughputResult[]): ThroughputResult {
  const [first] = parts;
  const completed = parts.reduce((sum, p) => sum + p.completed, 0);
  const seconds = parts.reduce((sum, p) => sum + p.seconds, 0);
  // Per-handshake CPU of the whole, weighted by each part's count.
  const weighted = (pick: (p: ThroughputResult) => number | undefined): number | undefined => {
    if (completed === 0 || parts.some((p) => pick(p) === undefined)) return undefined;
    return parts.reduce((sum, p) => sum + (pick(p) ?? 0) * p.completed, 0) / completed;
  };
  const result: ThroughputResult = {
    concurrency: first?.concurrency ?? 0,
    completed,
    failures: parts.reduce((sum, p) => sum + p.failures, 0),
    seconds,
    perSecond: seconds > 0 ? completed / seconds : 0,
    clientCpuUs: weighted((p) => p.clientCpuUs) ?? Number.NaN,
  };
  const serverCpuUs = weighted((p) => p.serverCpuUs);
  if (serverCpuUs !== undefined) result.serverCpuUs = serverCpuUs;
  const failure = parts.find((p) => p.firstFailure)?.firstFailure;
  if (failure) result.firstFailure = failure;
  return result;
}

export interface ThroughputPlan {
  levels: readonly number[];
  /** Per client and level, split in two halves (A B B A). */
  windowMs: number;
  /** Per half window: a bound on the count whatever the speed. */
  maxCountPerHalf: number;
  /** Untimed run of both clients at the level first (server processes, pools, JIT). */
  warmupMs: number;
}

/** Throughput of two clients at each concurrency, in A B B A order per level. */
export async function measureThroughput(
  a: { name: string; run: RunOnce },
  b: { name: string; run: RunOnce },
  plan: ThroughputPlan,
  serverCpu?: ServerCpu,
): Promise<Record<string, ThroughputResult[]>> {
  const results: Record<string, ThroughputResult[]> = { [a.name]: [], [b.name]: [] };
  for (const level of plan.levels) {
    const half = plan.windowMs / 2;
    await runWindow(a.run, level, plan.warmupMs / 2, plan.maxCountPerHalf, undefined);
    await runWindow(b.run, level, plan.warmupMs / 2, plan.maxCountPerHalf, undefined);
    const a1 = await runWindow(a.run, level, half, plan.maxCountPerHalf, serverCpu);
    const b1 = await runWindow(b.run, level, half, plan.maxCountPerHalf, serverCpu);
    const b2 = await runWindow(b.run, level, half, plan.maxCountPerHalf, serverCpu);
    const a2 = await runWindow(a.run, level, half, plan.maxCountPerHalf, serverCpu);
    results[a.name]?.push(merge([a1, a2]));
    results[b.name]?.push(merge([b1, b2]));
  }
  return results;
}
