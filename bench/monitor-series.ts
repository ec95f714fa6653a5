// `npm run bench:monitor-series`: what a scrape of the monitors' series costs the coordinator's
// event loop, the exposition written by hand (each monitor's lines rendered once per run, joined
// at the scrape: services/coordinator/monitor/monitor-metrics.ts) next to prom-client's gauges
// remade at each scrape (reset, set every sample, format), in one run, for MONITORS monitors of 3
// regions × 1 port with TLS (about 33 series each). Also what rendering one monitor costs at its
// run. Goal: the scrape by hand ≤ 0.5 × prom-client's. Writes bench/results/monitor-series-<timestamp>.json.
import { Gauge, Registry } from "prom-client";
import { MONITOR_SERIES, monitorExposition, monitorSeries, renderMonitor, snapshotOf, type MonitorSnapshot } from "../services/coordinator/monitor/monitor-series.js";
import { done, ok, report } from "../test/helpers/report-builders.js";
import { layoutTable, writeJson } from "./report.js";

const SIZES = (process.env.BENCH_MONITORS ?? "1000,10000").split(",").map(Number);
const ROUNDS = 5;
const GOAL_RATIO = 0.5;

function snapshots(count: number): MonitorSnapshot[] {
  const tls = { protocol: "TLSv1.3", daysToExpiry: 40, trusted: true, nameMatches: true, chain: [{ notAfter: new Date("2030-01-01T00:00:00Z") }] };
  const regions = ["eu-west", "us-east", "ap-south"];
  const probed = report(regions, [25], regions.map((region) => done(region, 25, [ok({ tls })], { egress: { port: 25, ok: true } })));
  return Array.from({ length: count }, (_, i) =>
    snapshotOf({ monitorId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, run: 1, report: probed, changes: [], regionChanges: [], first: true, error: "" }, { host: `mx${i}.example.com`, intervalMs: 300_000 }, Date.now()),
  );
}

/** prom-client as a first version had it: a gauge per family whose collect() remakes its samples. */
function promClientScrape(all: MonitorSnapshot[]): () => Promise<string> {
  const registry = new Registry();
  let series: ReturnType<typeof monitorSeries> | undefined;
  for (const [name, { help, labelNames }] of MONITOR_SERIES) {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect(this: Gauge) {
        this.reset();
        for (const sample of (series ??= monitorSeries(all)).get(name) ?? []) this.set(sample.labels, sample.value);
      },
    });
  }
  return () => {
    series = undefined;
    return registry.metrics();
  };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function timed(run: () => unknown): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

const startedAt = new Date();
const rows: string[][] = [];
const results: Record<string, unknown>[] = [];
let met = true;
for (const size of SIZES) {
  const all = snapshots(size);
  const promClient = promClientScrape(all);
  const renderMs: number[] = [];
  let rendered = all.map(renderMonitor);
  for (let round = 0; round < ROUNDS; round++) renderMs.push((await timed(() => (rendered = all.map(renderMonitor)))) / size);
  const byHand: number[] = [];
  const withPromClient: number[] = [];
  let bytes = 0;
  // Interleaved, so that the machine's load falls on both alike.
  for (let round = 0; round < ROUNDS; round++) {
    withPromClient.push(await timed(promClient));
    byHand.push(await timed(() => (bytes = monitorExposition(rendered).length)));
  }
  const hand = median(byHand);
  const prom = median(withPromClient);
  const ratio = hand / prom;
  met &&= ratio <= GOAL_RATIO;
  rows.push([`scrape, ${size} monitors (${(bytes / 1e6).toFixed(1)} MB)`, `${hand.toFixed(0)} ms`, `${prom.toFixed(0)} ms`, ratio.toFixed(2), `≤ ${GOAL_RATIO} ${ratio <= GOAL_RATIO ? "met" : "MISSED"}`]);
  rows.push([`render one monitor at its run`, `${(median(renderMs) * 1000).toFixed(0)} µs`, "-", "-", ""]);
  results.push({ monitors: size, bytes, byHandMs: byHand, promClientMs: withPromClient, renderOneMs: median(renderMs), ratio });
}
console.log(layoutTable(["metric", "by hand", "prom-client", "ratio", "goal"], rows));
console.log(`written to ${await writeJson(startedAt, { sizes: SIZES, rounds: ROUNDS, goalRatio: GOAL_RATIO, results }, "monitor-series")}`);
process.exitCode = met ? 0 : 1;
