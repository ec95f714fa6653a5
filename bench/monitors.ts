// `npm run bench:monitors`: many monitors held by two coordinators. A private nats-server with
// JetStream, two coordinators and one agent (real `smtp-probe` processes, as bench/batch.ts starts
// them), MONITORS monitors of CALLERS callers at INTERVAL_S seconds created through both
// coordinators, each probing a refused port of 127.0.0.1 (the cheapest target: what is measured is
// the scheduling, not SMTP).
// Then, over INTERVALS whole intervals, each coordinator's CPU (% of one core, from
// /proc/<pid>/stat every SAMPLE_MS) split into "during runs" (from a round's first event to its
// last, plus a margin) and "between runs" (the rest), its RSS, and nats-server's CPU; and every
// monitor's events on smtpprobe.v1.monitor.event.> counted: each run due in the window published
// exactly once; and, for a floor, the same processes' CPU for IDLE_MS before any monitor exists.
// Goal: ≤ 5 % of one core per coordinator between runs. Writes
// bench/results/monitors-<timestamp>.json. About 3.5 minutes.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { CreateMonitorRequest, MonitorEvent, type Monitor } from "../gen/smtpprobe/v1/monitor.js";
import { TlsMode } from "../gen/smtpprobe/v1/handshake.js";
import { MonitorServiceClient } from "../lib/monitor-service-client.js";
import { connectNatsBus } from "../lib/nats-bus.js";
import { freePort } from "../test/helpers/free-port.js";
import { connectProbeApi } from "../test/helpers/grpc-client.js";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { startAgentProcess, startCoordinatorProcess, stopAll } from "../test/helpers/processes.js";
import { layoutTable, machineEnvironment, writeJson } from "./report.js";
import { childPidsNamed, readCpuMs, readMemory } from "./service-processes.js";

const MONITORS = Number(process.env.BENCH_MONITORS ?? 1_000);
const INTERVAL_S = Number(process.env.BENCH_MONITOR_INTERVAL_S ?? 60);
/** Whole intervals measured after the monitors are created. */
const INTERVALS = Number(process.env.BENCH_MONITOR_INTERVALS ?? 2);
const CREATE_CONCURRENCY = 8;
/** Callers the monitors are spread over (each keeps MONITORS / CALLERS, within the default --max-monitors-per-caller). */
const CALLERS = 10;
const SAMPLE_MS = 200;
/** How long the processes are measured before any monitor exists: the floor. */
const IDLE_MS = 20_000;
/** A round of runs: events no more than this apart. */
const ROUND_GAP_MS = 5_000;
/** Around a round, still "during runs": the claims before its first event, the writes after its last. */
const ROUND_MARGIN_MS = 1_000;
/** A run due this long before the window's end must have its event by then. */
const RUN_SLACK_MS = 15_000;
const REGION = "bench";
const GOALS = { betweenRunsCpuPercent: 5 };

const watchdog = setTimeout(
  () => {
    console.error("bench:monitors: still running after 15 min; stopping");
    process.exit(1);
  },
  15 * 60_000,
);
watchdog.unref();

const startedAt = new Date();
const nats = await startNatsServer();
const refusedPort = await freePort(); // nothing listens there: each probe is a refused connection
const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [refusedPort] };
const limits = ["--caller-executions-per-minute", "0", "--caller-executions-in-flight", "0", "--max-executions-in-flight", "0"];
const monitorArgs = ["--max-monitors", String(MONITORS * 2), "--max-monitors-per-caller", String(Math.ceil(MONITORS / CALLERS)), "--monitor-min-interval", `${Math.min(INTERVAL_S, 60)}s`];
// A bearer token per caller: the coordinators know callers only through authentication.
const tokenOf = (caller: number): string => `bench-monitors-token-${caller}`;
const tokensDir = await mkdtemp(join(tmpdir(), "bench-monitors-"));
const tokensFile = join(tokensDir, "tokens.txt");
await writeFile(tokensFile, Array.from({ length: CALLERS }, (_, c) => `${tokenOf(c)} bench-${c}\n`).join(""));
const coordinators = await Promise.all([0, 1].map(() => startCoordinatorProcess({ nats: nats.url, ...policy, extraArgs: [...limits, ...monitorArgs, "--auth-tokens", tokensFile, "--log-level", "warn"] })));
const probeApi = connectProbeApi(coordinators[0]!.address, { token: tokenOf(0) });
const agent = await startAgentProcess({ region: REGION, agentId: `${REGION}-1`, nats: nats.url, readyVia: Promise.resolve(probeApi), ...policy, extraArgs: ["--concurrency", "256", "--log-level", "warn"] });
const clients = coordinators.map((c) => new MonitorServiceClient(c.address, credentials.createInsecure()));
const bus = await connectNatsBus({ servers: nats.url, name: "bench-monitors" });
const natsPid = childPidsNamed("nats-server")[0];

/** Every event seen: when, which monitor, which run, and whether it was an error. */
const events: { at: number; monitorId: string; run: number; error: boolean }[] = [];
const subscription = bus.subscribe("smtpprobe.v1.monitor.event.>", (message) => {
  const event = MonitorEvent.decode(message.data);
  events.push({ at: Date.now(), monitorId: event.monitorId, run: Number(event.run), error: event.error !== "" });
});

function callerMetadata(caller: number): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${tokenOf(caller)}`);
  return metadata;
}

const create = (i: number): Promise<Monitor> =>
  new Promise((resolve, reject) =>
    clients[i % 2]!.createMonitor(
      CreateMonitorRequest.fromPartial({ probe: { host: "127.0.0.1", ports: [refusedPort], regions: [REGION], options: { tlsMode: TlsMode.TLS_MODE_NONE } }, intervalSeconds: INTERVAL_S }),
      callerMetadata(i % CALLERS),
      { deadline: Date.now() + 30_000 },
      (error: ServiceError | null, value?: Monitor) => (error || !value ? reject(error ?? new Error("no answer")) : resolve(value)),
    ),
  );

interface Sample {
  at: number;
  cpuMs: (number | undefined)[];
}

function sample(): Sample {
  return { at: Date.now(), cpuMs: [...coordinators.map((c) => readCpuMs(c.pid)), natsPid === undefined ? undefined : readCpuMs(natsPid)] };
}

/** Rounds of runs: [first event − margin, last event + margin] for events no more than ROUND_GAP_MS apart. */
function roundsOf(times: number[]): [number, number][] {
  const rounds: [number, number][] = [];
  for (const t of [...times].sort((a, b) => a - b)) {
    const last = rounds.at(-1);
    if (last && t - last[1] <= ROUND_GAP_MS) last[1] = t;
    else rounds.push([t, t]);
  }
  return rounds.map(([from, to]) => [from - ROUND_MARGIN_MS, to + ROUND_MARGIN_MS]);
}

/** CPU % of one core of process `p` during and between rounds, from consecutive samples. */
function cpuSplit(samples: Sample[], p: number, rounds: [number, number][]): { during: number; between: number; whole: number; duringS: number; betweenS: number } {
  const sum = { during: { cpu: 0, wall: 0 }, between: { cpu: 0, wall: 0 } };
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const cpu = (b.cpuMs[p] ?? Number.NaN) - (a.cpuMs[p] ?? Number.NaN);
    if (!Number.isFinite(cpu)) continue;
    const middle = (a.at + b.at) / 2;
    const part = rounds.some(([from, to]) => middle >= from && middle <= to) ? sum.during : sum.between;
    part.cpu += cpu;
    part.wall += b.at - a.at;
  }
  const percent = (part: { cpu: number; wall: number }) => (part.wall > 0 ? (100 * part.cpu) / part.wall : Number.NaN);
  return {
    during: percent(sum.during),
    between: percent(sum.between),
    whole: percent({ cpu: sum.during.cpu + sum.between.cpu, wall: sum.during.wall + sum.between.wall }),
    duringS: sum.during.wall / 1000,
    betweenS: sum.between.wall / 1000,
  };
}

/** CPU % of one core of each process over `ms` (coordinators, then nats-server). */
async function cpuOver(ms: number): Promise<number[]> {
  const first = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const last = sample();
  return first.cpuMs.map((cpu, p) => (100 * ((last.cpuMs[p] ?? Number.NaN) - (cpu ?? Number.NaN))) / (last.at - first.at));
}

try {
  // The floor: the same processes with no monitor at all.
  await new Promise((resolve) => setTimeout(resolve, 3_000)); // start-up settles
  const idle = await cpuOver(IDLE_MS);

  // The monitors, through both coordinators.
  const createStart = performance.now();
  const monitors: Monitor[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CREATE_CONCURRENCY }, async () => {
      while (next < MONITORS) monitors.push(await create(next++));
    }),
  );
  const createS = (performance.now() - createStart) / 1000;
  console.error(`bench:monitors: ${MONITORS} monitors created in ${createS.toFixed(1)} s; measuring ${INTERVALS} intervals of ${INTERVAL_S} s`);
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // the creation's own work settles

  const windowStart = Date.now();
  const windowEnd = windowStart + INTERVALS * INTERVAL_S * 1000 + RUN_SLACK_MS;
  const samples: Sample[] = [sample()];
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      samples.push(sample());
      if (Date.now() >= windowEnd) {
        clearInterval(timer);
        resolve();
      }
    }, SAMPLE_MS);
  });
  const memory = coordinators.map((c) => readMemory(c.pid));

  // Each run due in the window (its time at least RUN_SLACK_MS before the end) published exactly once.
  const inWindow = events.filter((e) => e.at >= windowStart && e.at <= windowEnd);
  const seen = new Map<string, number>();
  for (const e of events) seen.set(`${e.monitorId}.${e.run}`, (seen.get(`${e.monitorId}.${e.run}`) ?? 0) + 1);
  const duplicates = [...seen.values()].filter((n) => n > 1).length;
  let expected = 0;
  let missed = 0;
  for (const m of monitors) {
    const createdAt = m.createdAt!.getTime();
    for (let run = 1; createdAt + run * INTERVAL_S * 1000 <= windowEnd - RUN_SLACK_MS; run++) {
      if (createdAt + run * INTERVAL_S * 1000 < windowStart) continue;
      expected += 1;
      if (!seen.has(`${m.monitorId}.${run}`)) missed += 1;
    }
  }
  const errors = inWindow.filter((e) => e.error).length;
  const rounds = roundsOf(inWindow.map((e) => e.at));
  const split = [0, 1, 2].map((p) => cpuSplit(samples, p, rounds));

  const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(1));
  const met = split.slice(0, 2).every((s) => s.between <= GOALS.betweenRunsCpuPercent);
  const exact = missed === 0 && duplicates === 0;
  const [load1, load5] = loadavg();
  console.log(`\nbench:monitors — ${MONITORS} monitors every ${INTERVAL_S} s (a refused loopback port), 2 coordinators, 1 agent; ${INTERVALS} intervals measured; load average ${load1?.toFixed(2)} (1 min), ${load5?.toFixed(2)} (5 min)\n`);
  console.log(
    layoutTable(
      ["", "coordinator 1", "coordinator 2", "nats-server", "goal"],
      [
        ["CPU between runs (% of one core)", f1(split[0]!.between), f1(split[1]!.between), f1(split[2]!.between), `≤ ${GOALS.betweenRunsCpuPercent} % each: ${met ? "met" : "MISSED"}`],
        ["CPU during runs (% of one core)", f1(split[0]!.during), f1(split[1]!.during), f1(split[2]!.during), ""],
        ["CPU over the window (% of one core)", f1(split[0]!.whole), f1(split[1]!.whole), f1(split[2]!.whole), ""],
        [`CPU with no monitor, ${IDLE_MS / 1000} s before (% of one core)`, f1(idle[0]), f1(idle[1]), f1(idle[2]), ""],
        ["RSS at the end (MiB)", f1((memory[0]?.rssKb ?? Number.NaN) / 1024), f1((memory[1]?.rssKb ?? Number.NaN) / 1024), "", ""],
        ["seconds between / during runs", `${f1(split[0]!.betweenS)} / ${f1(split[0]!.duringS)}`, "", "", ""],
      ],
    ),
  );
  console.log(
    `\nruns: ${expected} due in the window, ${inWindow.length} events in it (${errors} with an error), ${missed} missed, ${duplicates} published more than once: ${exact ? "each run exactly once" : "NOT exactly once"}; ${rounds.length} rounds lasting ${rounds.map(([a, b]) => ((b - a - 2 * ROUND_MARGIN_MS) / 1000).toFixed(1)).join(", ")} s; creating the monitors took ${createS.toFixed(1)} s`,
  );
  const file = await writeJson(
    startedAt,
    { monitors: MONITORS, intervalS: INTERVAL_S, intervals: INTERVALS, createS, idle, split, memory, expected, events: inWindow.length, errors, missed, duplicates, rounds, goals: GOALS, met, exact, loadavg: loadavg(), environment: machineEnvironment(["services", "lib", "bench"]) },
    "monitors",
  );
  console.log(`\n${met && exact ? "every goal met" : "a goal missed"}; written to ${file}`);
  if (!exact) process.exitCode = 1;
} finally {
  subscription.unsubscribe();
  await bus.drain();
  probeApi.close();
  for (const client of clients) client.close();
  await stopAll([...coordinators, agent]);
  await nats.stop();
  await rm(tokensDir, { recursive: true, force: true });
}
