// The service bench's two measurements, both bounded in count and in time: sequential series of
// several ways to probe, interleaved probe by probe (so drift and background work hit them alike),
// and a fixed-concurrency window. Failures are counted by kind, never thrown.
import { ProbeFailure, type FailureKind, type ProbeOnce, type ProbeSample } from "./service-client.js";
import { summarize, type Summary } from "./stats.js";

export type FailureCounts = Partial<Record<FailureKind | "other", number>>;

export interface SeriesResult {
  samples: ProbeSample[];
  failures: FailureCounts;
  firstFailure?: string;
}

export interface SeriesPlan {
  warmup: number;
  iterations: number;
  /** Stops early (fewer samples, reported as n) when this is spent. */
  budgetMs: number;
}

function countFailure(failures: FailureCounts, error: unknown): string {
  const kind = error instanceof ProbeFailure ? error.kind : "other";
  failures[kind] = (failures[kind] ?? 0) + 1;
  return error instanceof Error ? error.message : String(error);
}

export function failureTotal(failures: FailureCounts): number {
  return Object.values(failures).reduce((sum, n) => sum + (n ?? 0), 0);
}

/** Runs every way `iterations` times, round-robin in a rotating order, after a warm-up. */
export async function measureInterleaved(ways: Record<string, ProbeOnce>, plan: SeriesPlan): Promise<Record<string, SeriesResult>> {
  const names = Object.keys(ways);
  const results: Record<string, SeriesResult> = Object.fromEntries(names.map((name) => [name, { samples: [], failures: {} }]));
  const runOne = async (name: string, record: boolean): Promise<void> => {
    const run = ways[name];
    const result = results[name];
    if (!run || !result) return;
    try {
      const sample = await run();
      if (record) result.samples.push(sample);
    } catch (error) {
      const message = countFailure(result.failures, error);
      result.firstFailure ??= message;
    }
  };
  const warmupEnd = performance.now() + plan.budgetMs / 4;
  for (let i = 0; i < plan.warmup && performance.now() < warmupEnd; i += 1) {
    for (const name of names) await runOne(name, false);
  }
  const deadline = performance.now() + plan.budgetMs;
  for (let i = 0; i < plan.iterations && performance.now() < deadline; i += 1) {
    for (let k = 0; k < names.length; k += 1) await runOne(names[(i + k) % names.length] ?? "", true);
  }
  return results;
}

export interface WindowResult {
  concurrency: number;
  completed: number;
  failures: FailureCounts;
  firstFailure?: string;
  seconds: number;
  perSecond: number;
  latencyMs: Summary;
}

/**
 * `concurrency` workers, each starting a new probe as soon as its last one ended, until the window
 * closes or `maxCount` probes were started. The rate counts completed probes over the time until
 * the last one ended.
 */
export async function measureWindow(run: ProbeOnce, concurrency: number, windowMs: number, maxCount: number): Promise<WindowResult> {
  let started = 0;
  let completed = 0;
  const failures: FailureCounts = {};
  let firstFailure: string | undefined;
  const latencies: number[] = [];
  const begin = performance.now();
  const end = begin + windowMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end && started < maxCount) {
      started += 1;
      try {
        latencies.push((await run()).wallMs);
        completed += 1;
      } catch (error) {
        const message = countFailure(failures, error);
        firstFailure ??= message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - begin) / 1000;
  const result: WindowResult = { concurrency, completed, failures, seconds, perSecond: completed / seconds, latencyMs: summarize(latencies) };
  if (firstFailure) result.firstFailure = firstFailure;
  return result;
}

/** Summaries of a series: the caller's wall time, the engine's own time, and what lies between. */
export interface SeriesSummary {
  n: number;
  wallMs: Summary;
  engineMs: Summary;
  /** Per probe: wall time − the engine's own time (the service's part, for an end-to-end probe). */
  outsideEngineMs: Summary;
  coordinatorMs?: Summary;
  failures: FailureCounts;
  firstFailure?: string;
}

export function summarizeSeries(series: SeriesResult | undefined): SeriesSummary {
  const samples = series?.samples ?? [];
  const coordinator = samples.flatMap((s) => (s.coordinatorMs === undefined ? [] : [s.coordinatorMs]));
  const summary: SeriesSummary = {
    n: samples.length,
    wallMs: summarize(samples.map((s) => s.wallMs)),
    engineMs: summarize(samples.map((s) => s.engineMs)),
    outsideEngineMs: summarize(samples.map((s) => s.wallMs - s.engineMs)),
    failures: series?.failures ?? {},
  };
  if (coordinator.length > 0) summary.coordinatorMs = summarize(coordinator);
  if (series?.firstFailure) summary.firstFailure = series.firstFailure;
  return summary;
}

/**
 * Added ms at a percentile: the paired difference would need the two probes to be comparable one
 * by one, which they are not (each is its own handshake), so this is the difference of the two
 * distributions' percentiles, as the goal states it.
 */
export function addedAt(e2e: Summary, direct: Summary, p: "p50" | "p99"): number {
  return e2e[p] - direct[p];
}
