// `npm run bench:batch`: a batch against the same work asked as single Probe calls. A private
// nats-server with JetStream, a coordinator and an agent (real `smtp-probe` processes, as in
// test/e2e/batch.test.ts), and PORTS smtp-server fixtures on 127.0.0.1 in a process of their own
// (bench/target-process.ts: the targets' CPU is not the bench client's, as with real servers); the
// targets go round the ports, so that no two items in flight are the same probe (identical probes
// in flight would join, and the comparison would measure joining). Each item is a plaintext
// handshake (tls none): what is measured is the service, not TLS; the fixtures greet at once
// (smtp-server's 100 ms early-talker pause taken out, early-talker.ts), so that a probe's time is
// the service's and the first report is not bounded below by a sleep of the fixture.
//   baseline  ITEMS Probe calls, CONCURRENCY at a time (the batch's --batch-concurrency)
//   batch     one CreateBatch of ITEMS targets, watched to its last report
// Goals: batch throughput ≥ 0.9 × the baseline's; submit → first report ≤ 50 ms; the
// coordinator's memory flat during the batch (its RSS grows less than during the baseline, plus
// 20 MiB). Writes bench/results/batch-<timestamp>.json.
import { loadavg } from "node:os";
import { TlsMode } from "../gen/smtpprobe/v1/handshake.js";
import { connectNatsBus } from "../lib/nats-bus.js";
import { connectBatchApi } from "../test/helpers/batch-client.js";
import { connectProbeApi } from "../test/helpers/grpc-client.js";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { startAgentProcess, startCoordinatorProcess, stopAll } from "../test/helpers/processes.js";
import { breakDown, watchBatchTimeline, type BatchMarks } from "./batch-timeline.js";
import { layoutTable, writeJson } from "./report.js";
import { readMemory } from "./service-processes.js";
import { startTargetProcess } from "./targets.js";

const ITEMS = Number(process.env.BENCH_BATCH_ITEMS ?? 5_000);
const CONCURRENCY = 64;
const PORTS = 50;
const WARMUP = 200;
/** Large batches, each cancelled after its first report, before any is measured. */
const LARGE_WARMUP = 2;
/** Large batches measured for the first report (the median is the figure). */
const LARGE_RUNS = 5;
const REGION = "bench";
const GOALS = { throughputRatio: 0.9, firstReportMs: 50, rssGrowthMiB: 20 };

const watchdog = setTimeout(() => {
  console.error("bench:batch: still running after 15 min; stopping");
  process.exit(1);
}, 15 * 60_000);
watchdog.unref();

const startedAt = new Date();
const nats = await startNatsServer();
const targets = await startTargetProcess({ earlyTalkerPause: false, silent: false, plainFixtures: PORTS });
const ports = targets.plainPorts;
const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: ports };
const limits = ["--caller-executions-per-minute", "0", "--caller-executions-in-flight", "0", "--max-executions-in-flight", "0"];
const coordinator = await startCoordinatorProcess({ nats: nats.url, ...policy, extraArgs: ["--batch-concurrency", String(CONCURRENCY), ...limits] });
const probeApi = connectProbeApi(coordinator.address);
const agent = await startAgentProcess({ region: REGION, agentId: `${REGION}-1`, nats: nats.url, readyVia: Promise.resolve(probeApi), ...policy, extraArgs: ["--concurrency", String(CONCURRENCY * 2)] });
const batchApi = connectBatchApi(coordinator.address);
const bus = await connectNatsBus({ servers: nats.url, name: "smtp-probe-bench-batch" });
const timeline = watchBatchTimeline(bus, REGION);

const target = (i: number) => ({ host: "127.0.0.1", ports: [ports[i % PORTS]!] });
const options = { regions: [REGION], options: { tlsMode: TlsMode.TLS_MODE_NONE } };

/** The coordinator's RSS every 100 ms while `work` runs: first, peak, last (MiB). */
async function sampled<T>(work: () => Promise<T>): Promise<{ value: T; rss: { first: number; peak: number; last: number } }> {
  const samples: number[] = [];
  const sample = (): void => {
    const memory = readMemory(coordinator.pid);
    if (memory) samples.push(memory.rssKb / 1024);
  };
  sample();
  const timer = setInterval(sample, 100);
  try {
    const value = await work();
    sample();
    return { value, rss: { first: samples[0] ?? 0, peak: Math.max(...samples), last: samples.at(-1) ?? 0 } };
  } finally {
    clearInterval(timer);
  }
}

/** `count` Probe calls, `CONCURRENCY` at a time; ms from the first call to the last report. */
async function singleProbes(count: number, offset: number): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const report = await probeApi.probe({ ...target(offset + i), ...options }, { deadlineMs: 60_000 });
        if (!report.complete) throw new Error(`probe ${i} incomplete`);
      }
    }),
  );
  return performance.now() - t;
}

/**
 * One batch of `count` items: ms to its last report, and to its first (from the CreateBatch call),
 * with the marks of its way. `cancelAfterFirst`: cancelled once the first report is in (the rest
 * are reported CANCELLED without a probe), to measure the first report of a large batch cheaply.
 */
async function batch(count: number, cancelAfterFirst = false): Promise<{ totalMs: number; firstReportMs: number; marks: BatchMarks }> {
  // The caller's list exists before the call: its encoding, the call and the rest are measured.
  const targets = Array.from({ length: count }, (_, i) => target(i));
  const marks = timeline.begin(count);
  const t = marks.submit;
  const created = await batchApi.create({ targets, options }, 120_000);
  marks.created = performance.now();
  let cancelled: Promise<unknown> | undefined;
  const watch = batchApi.watch({ batchId: created.batchId }, (event) => {
    marks.watchOpen ??= performance.now();
    if (!event.item || marks.firstReport !== undefined) return;
    marks.firstReport = performance.now();
    if (cancelAfterFirst) cancelled = batchApi.cancel(created.batchId);
  });
  const { events, error } = await watch.done;
  await cancelled;
  if (error) throw error;
  const items = events.filter((e) => e.item).length;
  if (items !== count) throw new Error(`batch: ${items} reports for ${count} items`);
  return { totalMs: performance.now() - t, firstReportMs: (marks.firstReport ?? Number.NaN) - t, marks };
}

try {
  // Warm: a coordinator that serves batches has checked and stored large ones before (the first
  // of them in a process runs its code cold, several times slower).
  await singleProbes(WARMUP, 0);
  await batch(WARMUP);
  for (let i = 0; i < LARGE_WARMUP; i++) await batch(ITEMS, true);
  // The first report alone, on an idle coordinator: a batch of one.
  const firstReports: number[] = [];
  const singles: number[] = [];
  for (let i = 0; i < 5; i++) {
    firstReports.push((await batch(1)).firstReportMs);
    singles.push(await singleProbes(1, i));
  }
  // The first report of a large batch on an idle coordinator, LARGE_RUNS times (each cancelled after it).
  const large = [];
  for (let i = 0; i < LARGE_RUNS; i++) large.push(await batch(ITEMS, true));
  large.sort((a, b) => a.firstReportMs - b.firstReportMs);
  const typical = large[Math.floor(LARGE_RUNS / 2)]!;
  const baseline = await sampled(() => singleProbes(ITEMS, 0));
  const batched = await sampled(() => batch(ITEMS));
  const baselineRate = (ITEMS * 1000) / baseline.value;
  const batchRate = (ITEMS * 1000) / batched.value.totalMs;
  const ratio = batchRate / baselineRate;
  const median = (sample: number[]) => [...sample].sort((a, b) => a - b)[Math.floor(sample.length / 2)]!;
  const firstReportMs = typical.firstReportMs;
  const single = median(singles);
  const growth = (r: { first: number; peak: number }) => r.peak - r.first;
  const memoryFlat = growth(batched.rss) <= growth(baseline.rss) + GOALS.rssGrowthMiB;
  const f1 = (n: number) => n.toFixed(1);
  console.log(`\nbench:batch — ${ITEMS} loopback targets over ${PORTS} ports, ${CONCURRENCY} at a time; load average ${loadavg()[0]?.toFixed(2)}\n`);
  console.log(
    layoutTable(
      ["", "single Probe calls", "one batch", "ratio", "goal"],
      [
        ["throughput (items/s)", f1(baselineRate), f1(batchRate), ratio.toFixed(2), `≥ ${GOALS.throughputRatio}`],
        ["wall time (s)", f1(baseline.value / 1000), f1(batched.value.totalMs / 1000), "", ""],
        ["coordinator RSS first → peak (MiB)", `${f1(baseline.rss.first)} → ${f1(baseline.rss.peak)}`, `${f1(batched.rss.first)} → ${f1(batched.rss.peak)}`, "", `batch growth ≤ baseline's + ${GOALS.rssGrowthMiB}`],
        [`submit → first report (ms), ${ITEMS} items, median of ${LARGE_RUNS} / one Probe call, median of 5`, f1(single), f1(firstReportMs), (firstReportMs / single).toFixed(2), `≤ ${GOALS.firstReportMs}: ${firstReportMs <= GOALS.firstReportMs ? "met" : "missed"}`],
        [`submit → first report (ms), the ${LARGE_RUNS} batches of the median`, "", large.map((l) => f1(l.firstReportMs)).join(" / "), "", ""],
        ["submit → first report (ms), one target, median of 5", "", f1(median(firstReports)), "", ""],
        [`submit → first report (ms), the throughput batch of ${ITEMS} above, once`, "", f1(batched.value.firstReportMs), "", ""],
      ],
    ),
  );
  const ms = (n: number | undefined) => (n === undefined ? "—" : f1(n));
  console.log(`\nwhere the first report's ${f1(firstReportMs)} ms went (the median batch of ${ITEMS}; marks seen by the bench, on NATS and at its gRPC calls):\n`);
  console.log(layoutTable(["mark", "ms after submit"], breakDown(typical.marks).map((b) => [b.label, ms(b.at)])));
  const met = ratio >= GOALS.throughputRatio && firstReportMs <= GOALS.firstReportMs && memoryFlat;
  const file = await writeJson(startedAt, { items: ITEMS, concurrency: CONCURRENCY, ports: PORTS, baselineMs: baseline.value, batch: { totalMs: batched.value.totalMs, firstReportMs: batched.value.firstReportMs }, large: large.map((l) => ({ firstReportMs: l.firstReportMs, marks: breakDown(l.marks) })), baselineRate, batchRate, ratio, firstReports, singles, rss: { baseline: baseline.rss, batch: batched.rss }, goals: GOALS, met, loadavg: loadavg() }, "batch");
  console.log(`\n${met ? "every goal met" : "a goal missed"}; written to ${file}`);
} finally {
  probeApi.close();
  batchApi.close();
  timeline.stop();
  await bus.drain();
  await stopAll([coordinator, agent]);
  await Promise.all([nats.stop(), targets.stop()]);
}
