// `npm run bench:load`: the coordinator under overload, and a soak of cancelled calls.
//
// The system: a private nats-server, the coordinator and one agent as real `smtp-probe` processes
// (bench/load-process.ts adds a GC-and-measure hook over IPC), and the smtp-server fixture in its
// own process with its 100 ms greeting pause kept, so that a probe takes ~110 ms of mostly waiting
// and the capacity is set by the agent's concurrency rather than by this 2-core machine's CPU.
// Only 127.0.0.1 is contacted.
//
// 1. Capacity: a closed loop of AGENT_CONCURRENCY callers for CAPACITY_MS: probes per second.
// 2. Open-loop load (calls sent on a fixed schedule whatever the answers, so that a slow server
//    cannot slow the generator down: no coordinated omission) at 1×, 2× and 10× that capacity,
//    from 1 caller and from 20 callers (bearer tokens): accepted throughput, shed rate
//    (RESOURCE_EXHAUSTED), calls that timed out (DEADLINE_EXCEEDED: must be none), other errors,
//    p50/p99 of accepted calls (from their scheduled send time), and the peak RSS of every process.
//    The baseline of each row is the 1× row of the same callers, measured in the same run.
// 3. Soak: SOAK_CALLS calls started and cancelled after a random 0–30 ms, half unary, half
//    streaming, as many at once as the agent runs (so they are admitted, not shed); the
//    coordinator's and the agent's heap (after a full GC) and live handles before, and
//    SOAK_SETTLE_MS after (see there why it waits).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { ProbeRequest, TaskStatus, type ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";
import { ProbeServiceClient } from "../lib/probe-service-client.js";
import { UNTHROTTLED_ARGS } from "../services/coordinator/throttle-settings.js";
import { freePort } from "../test/helpers/free-port.js";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { delay, withTimeout } from "../test/helpers/wait.js";
import { distinctEhloName, EHLO_NAME } from "./clients.js";
import type { LoadProcessMeasure, LoadProcessRequest } from "./load-process.js";
import { layoutTable, writeJson } from "./report.js";
import { childPidsNamed, readMemory, spawnSmtpProbe, type ServiceProcess } from "./service-processes.js";
import { percentile } from "./stats.js";
import { startTargetProcess } from "./targets.js";

/** BENCH_LOAD_QUICK=1: shorter steps and a smaller soak, to try the bench itself; not for figures. */
const QUICK = process.env.BENCH_LOAD_QUICK === "1";
const AGENT_CONCURRENCY = 8;
const CAPACITY_MS = QUICK ? 2_000 : 6_000;
const STEP_MS = QUICK ? 3_000 : 8_000;
const CALL_DEADLINE_MS = 10_000;
const CALLERS = 20;
const SOAK_CALLS = QUICK ? 2_000 : 20_000;
/** The agent's concurrency: the calls are admitted (not shed) and reach the agent before they are cancelled. */
const SOAK_CONCURRENCY = AGENT_CONCURRENCY;
/**
 * After the soak, before the second measurement: longer than the server's keepalive ping and its
 * timeout (30 s + 10 s, server.ts), and than the destination throttle's minute window, whose
 * timer forgets the last grants a minute after them. A client that resets streams faster than nghttp2's rate limit
 * gets its connection ended with GOAWAY, and grpc-js closes the socket of such a connection only
 * when its keepalive fails; measured earlier, that socket would count as a leaked handle.
 */
const SOAK_SETTLE_MS = QUICK ? 3_000 : 70_000;
const WATCHDOG_MS = 8 * 60_000;
const RSS_LIMIT_MB = 512;

const log = (message: string): void => {
  process.stderr.write(`[bench:load] ${message}\n`);
};

interface ServiceChild {
  process: ServiceProcess;
  measure(): Promise<LoadProcessMeasure>;
  peakRssMb(): number;
  stop(): Promise<void>;
}

const processPath = fileURLToPath(new URL("./load-process.ts", import.meta.url));

function startService(label: string, args: string[]): ServiceChild {
  // --expose-gc for the measure hook.
  const proc = spawnSmtpProbe(label, args, { nodeArgs: ["--expose-gc"], forkModule: processPath });
  const { child } = proc;
  let peakKb = 0;
  const sample = (): void => {
    const memory = readMemory(proc.pid);
    if (memory) peakKb = Math.max(peakKb, memory.hwmKb);
  };
  const sampler = setInterval(sample, 500);
  return {
    process: proc,
    measure: () =>
      withTimeout(
        new Promise<LoadProcessMeasure>((resolve) => {
          const onMessage = (message: LoadProcessMeasure): void => {
            if (message.type !== "measure") return;
            child.off("message", onMessage);
            resolve(message);
          };
          child.on("message", onMessage);
          child.send({ type: "measure" } satisfies LoadProcessRequest);
        }),
        10_000,
        `${label} measure`,
      ),
    peakRssMb: () => {
      sample();
      return peakKb / 1024;
    },
    async stop() {
      clearInterval(sampler);
      await proc.stop(8_000);
    },
  };
}

// ---- the load generator ----

interface CallOutcome {
  code: status;
  /** With OK: whether every task of the report ended DONE (its probe ran), not timed out in a queue. */
  done: boolean;
  /** From the call's scheduled send time to its answer. */
  latencyMs: number;
}

type Caller = { metadata: Metadata };

/** Each call's EHLO name differs, so that calls are distinct probes (identical in-flight ones join). */
function distinct(request: ProbeRequest): ProbeRequest {
  return { ...request, options: { ...request.options!, ehloName: distinctEhloName() } };
}

function probeCall(client: ProbeServiceClient, request: ProbeRequest, caller: Caller, scheduledAt: number): Promise<CallOutcome> {
  return new Promise((resolve) => {
    client.probe(distinct(request), caller.metadata, { deadline: Date.now() + CALL_DEADLINE_MS }, (error: ServiceError | null, report?: ProbeReport) => {
      const done = !error && report !== undefined && report.tasks.every((t) => t.status === TaskStatus.TASK_STATUS_DONE);
      resolve({ code: error ? error.code : status.OK, done, latencyMs: performance.now() - scheduledAt });
    });
  });
}

/** Sends `rate` calls per second for `durationMs` on a fixed schedule, round robin over the callers. */
async function openLoop(client: ProbeServiceClient, request: ProbeRequest, callers: Caller[], rate: number, durationMs: number): Promise<CallOutcome[]> {
  const pending: Promise<CallOutcome>[] = [];
  const start = performance.now();
  const total = Math.round((rate * durationMs) / 1000);
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    // Every call whose time has come goes now, with its scheduled time, however late the loop is.
    while (sent < total && start + (sent * 1000) / rate <= now) {
      const scheduledAt = start + (sent * 1000) / rate;
      pending.push(probeCall(client, request, callers[sent % callers.length]!, scheduledAt));
      sent += 1;
    }
    await delay(2);
  }
  return withTimeout(Promise.all(pending), CALL_DEADLINE_MS + 5_000, "the open loop's last calls");
}

/** `concurrency` callers each sending its next call when the last is answered. */
async function closedLoop(client: ProbeServiceClient, request: ProbeRequest, caller: Caller, concurrency: number, durationMs: number): Promise<CallOutcome[]> {
  const end = performance.now() + durationMs;
  const outcomes: CallOutcome[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) outcomes.push(await probeCall(client, request, caller, performance.now()));
    }),
  );
  return outcomes;
}

interface StepResult {
  scenario: string;
  callers: number;
  load: number;
  offeredPerS: number;
  acceptedPerS: number;
  shedPct: number;
  degraded: number;
  timedOut: number;
  otherErrors: number;
  otherCodes: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  shedP99Ms: number;
}

function summarizeStep(scenario: string, callers: number, load: number, rate: number, outcomes: CallOutcome[], durationMs: number): StepResult {
  // Accepted: answered OK with every task DONE. An OK report whose task timed out waiting at a
  // busy agent is a degraded answer, counted apart.
  const ok = outcomes.filter((o) => o.code === status.OK && o.done);
  const degraded = outcomes.filter((o) => o.code === status.OK && !o.done).length;
  const shed = outcomes.filter((o) => o.code === status.RESOURCE_EXHAUSTED);
  const timedOut = outcomes.filter((o) => o.code === status.DEADLINE_EXCEEDED).length;
  const others = outcomes.filter((o) => ![status.OK, status.RESOURCE_EXHAUSTED, status.DEADLINE_EXCEEDED].includes(o.code));
  const otherCodes: Record<string, number> = {};
  for (const o of others) otherCodes[status[o.code] ?? String(o.code)] = (otherCodes[status[o.code] ?? String(o.code)] ?? 0) + 1;
  const sorted = ok.map((o) => o.latencyMs).sort((a, b) => a - b);
  const shedSorted = shed.map((o) => o.latencyMs).sort((a, b) => a - b);
  return {
    scenario,
    callers,
    load,
    offeredPerS: rate,
    acceptedPerS: ok.length / (durationMs / 1000),
    shedPct: outcomes.length ? (100 * shed.length) / outcomes.length : 0,
    degraded,
    timedOut,
    otherErrors: others.length,
    otherCodes,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    shedP99Ms: percentile(shedSorted, 99),
  };
}

// ---- the soak ----

/**
 * The least of SETTLED_SAMPLES measurements a second apart, per figure: timers that come and go on
 * their own (the coordinator's discovery round runs 500 ms in every 5 s and holds a timer
 * meanwhile) must not count as leaked, nor as a baseline a leak could hide under.
 */
const SETTLED_SAMPLES = 6;
async function settled(service: ServiceChild): Promise<LoadProcessMeasure> {
  const samples: LoadProcessMeasure[] = [];
  for (let i = 0; i < SETTLED_SAMPLES; i += 1) {
    if (i > 0) await delay(1_000);
    samples.push(await service.measure());
  }
  const kinds = new Set(samples.flatMap((m) => Object.keys(m.resources)));
  const resources: Record<string, number> = {};
  for (const kind of kinds) resources[kind] = Math.min(...samples.map((m) => m.resources[kind] ?? 0));
  return {
    type: "measure",
    heapUsedBytes: Math.min(...samples.map((m) => m.heapUsedBytes)),
    rssBytes: Math.min(...samples.map((m) => m.rssBytes)),
    resources,
  };
}

/** The first few errors other than CANCELLED, as the client saw them. */
const soakSamples: string[] = [];

/** How the call ended as the client saw it: CANCELLED by itself, or an answer that came first. */
function cancelledCall(client: ProbeServiceClient, request: ProbeRequest, caller: Caller, streaming: boolean): Promise<string> {
  return new Promise((resolve) => {
    const cancelAfter = Math.random() * 30;
    const end = (error?: ServiceError | null): void => {
      if (error && error.code !== status.CANCELLED && soakSamples.length < 5) soakSamples.push(`${status[error.code]}: ${error.details}`);
      resolve(error ? (status[error.code] ?? String(error.code)) : "OK");
    };
    if (streaming) {
      const call = client.streamProbe(distinct(request), caller.metadata, { deadline: Date.now() + CALL_DEADLINE_MS });
      call.on("data", () => undefined);
      call.on("error", (error: ServiceError) => end(error));
      call.on("end", () => end());
      setTimeout(() => call.cancel(), cancelAfter);
    } else {
      const call = client.probe(distinct(request), caller.metadata, { deadline: Date.now() + CALL_DEADLINE_MS }, (error: ServiceError | null) => end(error));
      setTimeout(() => call.cancel(), cancelAfter);
    }
  });
}

/** Ends by kind: { CANCELLED: n, RESOURCE_EXHAUSTED: n, OK: n, ... }. */
async function soak(client: ProbeServiceClient, request: ProbeRequest, caller: Caller, calls: number): Promise<Record<string, number>> {
  let next = 0;
  const ends: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: SOAK_CONCURRENCY }, async () => {
      while (next < calls) {
        const i = next++;
        const end = await cancelledCall(client, request, caller, i % 2 === 1);
        ends[end] = (ends[end] ?? 0) + 1;
      }
    }),
  );
  return ends;
}

const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : "–");

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg();
  const watchdog = setTimeout(() => {
    log(`watchdog: the run exceeded ${WATCHDOG_MS / 1000} s`);
    process.exit(2);
  }, WATCHDOG_MS);
  watchdog.unref();
  const stoppers: (() => Promise<void>)[] = [];
  const dir = await mkdtemp(join(tmpdir(), "smtp-probe-load-"));
  stoppers.push(() => rm(dir, { recursive: true, force: true }));
  try {
    const target = await startTargetProcess({ earlyTalkerPause: true, silent: false });
    stoppers.push(() => target.stop());
    const nats = await startNatsServer();
    stoppers.push(() => nats.stop());
    const natsPid = childPidsNamed("nats-server")[0];
    const natsPeakMb = (): number => (natsPid ? (readMemory(natsPid)?.hwmKb ?? Number.NaN) / 1024 : Number.NaN);

    const tokens = Array.from({ length: CALLERS + 1 }, (_, i) => `load-bench-token-${String(i).padStart(4, "0")}-${Math.random().toString(36).slice(2)}`);
    await writeFile(join(dir, "tokens"), tokens.map((t, i) => `${t} ${i === CALLERS ? "soak" : `caller-${i}`}`).join("\n") + "\n");
    const grpcPort = await freePort();
    const policy = ["--allow-cidr", "127.0.0.0/8", "--allow-ports", String(target.smtpPort), "--log-level", "warn", "--nats", nats.url];
    const coordinator = startService("coordinator", [
      "coordinator",
      "--listen",
      `127.0.0.1:${grpcPort}`,
      "--http-listen",
      "off",
      "--auth-tokens",
      join(dir, "tokens"),
      ...policy,
      // Overload: the coordinator-wide bound on executions in flight is the agent's capacity (what
      // an operator would set); the per-caller limits do not bind below it (in flight: the same
      // bound; per minute: none), so that it is what sheds, for 1 caller as for 20.
      "--max-executions-in-flight",
      String(AGENT_CONCURRENCY),
      "--caller-executions-in-flight",
      String(AGENT_CONCURRENCY),
      "--caller-executions-per-minute",
      "0",
      // One loopback target takes the whole load: the per-destination throttle is not what is measured.
      ...UNTHROTTLED_ARGS,
    ]);
    stoppers.push(() => coordinator.stop());
    const agent = startService("agent", ["agent", "--region", "bench", "--agent-id", "bench-1", "--concurrency", String(AGENT_CONCURRENCY), ...policy]);
    stoppers.push(() => agent.stop());

    const client = new ProbeServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    stoppers.push(async () => client.close());
    const callers: Caller[] = tokens.slice(0, CALLERS).map((token) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      return { metadata };
    });
    const soakCaller: Caller = { metadata: new Metadata() };
    soakCaller.metadata.set("authorization", `Bearer ${tokens[CALLERS]!}`);
    const request = ProbeRequest.fromPartial({
      host: "127.0.0.1",
      ports: [target.smtpPort],
      regions: ["bench"],
      options: { ehloName: EHLO_NAME, timeouts: { deadlineMs: 5_000 } },
    });

    // Ready when a probe goes through.
    await withTimeout(
      (async () => {
        for (;;) {
          if (coordinator.process.exited()) throw new Error(`the coordinator exited:\n${coordinator.process.stderr()}`);
          if (agent.process.exited()) throw new Error(`the agent exited:\n${agent.process.stderr()}`);
          const outcome = await probeCall(client, request, callers[0]!, performance.now());
          if (outcome.code === status.OK) return;
          await delay(300);
        }
      })(),
      60_000,
      "the first probe through the stack",
    );
    log("stack ready; measuring capacity");
    await closedLoop(client, request, callers[0]!, AGENT_CONCURRENCY, 2_000); // warm-up
    const capacityRun = await closedLoop(client, request, callers[0]!, AGENT_CONCURRENCY, CAPACITY_MS);
    const capacity = capacityRun.filter((o) => o.code === status.OK).length / (CAPACITY_MS / 1000);
    log(`capacity ${capacity.toFixed(1)} probes/s at concurrency ${AGENT_CONCURRENCY}`);

    const steps: StepResult[] = [];
    for (const callerCount of [1, CALLERS]) {
      for (const load of [1, 2, 10]) {
        const rate = capacity * load;
        const scenario = `${load}× capacity, ${callerCount} caller${callerCount > 1 ? "s" : ""}`;
        log(`${scenario}: ${rate.toFixed(0)} calls/s for ${STEP_MS / 1000} s`);
        const outcomes = await openLoop(client, request, callers.slice(0, callerCount), rate, STEP_MS);
        steps.push(summarizeStep(scenario, callerCount, load, rate, outcomes, STEP_MS));
        await delay(1_000); // let the last accepted probes end before the next step
      }
    }
    const loadPeaks = { coordinatorMb: coordinator.peakRssMb(), agentMb: agent.peakRssMb(), natsMb: natsPeakMb() };

    log(`soak: ${SOAK_CALLS} calls started then cancelled (half unary, half streaming)`);
    // Each side measured with no gRPC client connected, so that the client's connections (which
    // grpc-js may open anew) are not counted as the coordinator's handles.
    const soakClient = (): ProbeServiceClient => new ProbeServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    const warm = soakClient();
    await soak(warm, request, soakCaller, 500); // warm-up: code paths compiled, pools filled
    warm.close();
    client.close();
    await delay(3_000);
    const before = { coordinator: await settled(coordinator), agent: await settled(agent) };
    const soaking = soakClient();
    const soakStart = performance.now();
    const soakEnds = await soak(soaking, request, soakCaller, SOAK_CALLS);
    const soakMs = performance.now() - soakStart;
    soaking.close();
    await delay(SOAK_SETTLE_MS);
    const after = { coordinator: await settled(coordinator), agent: await settled(agent) };

    // ---- output ----
    const rows: string[][] = steps.map((s) => {
      const base = steps.find((b) => b.callers === s.callers && b.load === 1)!;
      return [
        s.scenario,
        fmt(s.offeredPerS),
        fmt(s.acceptedPerS, 1),
        fmt(s.shedPct, 1),
        String(s.degraded),
        String(s.timedOut),
        String(s.otherErrors),
        fmt(s.p50Ms),
        fmt(s.p99Ms),
        fmt(s.p99Ms / base.p99Ms, 2),
        fmt(s.shedP99Ms, 1),
      ];
    });
    const out = (text: string): boolean => process.stdout.write(text);
    out(`\nsmtp-probe load bench — coordinator + 1 agent (concurrency ${AGENT_CONCURRENCY}) + nats-server, smtp-server fixture with its 100 ms greeting\n`);
    out(`${cpus().length} CPUs; load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")} at the start, ${loadavg().map((x) => x.toFixed(2)).join(" ")} at the end\n`);
    out(`capacity (closed loop, ${AGENT_CONCURRENCY} in flight): ${capacity.toFixed(1)} probes/s\n\n`);
    out(
      layoutTable(
        ["scenario (open loop)", "offered/s", "accepted/s", "shed %", "OK, task not done", "timed out", "other errors", "p50 ms", "p99 ms", "p99 ÷ p99 at 1×", "shed answer p99 ms"],
        rows,
      ) + "\n\n",
    );
    for (const s of steps.filter((x) => x.otherErrors > 0)) out(`other errors in "${s.scenario}": ${JSON.stringify(s.otherCodes)}\n`);
    out(`peak RSS during the load: coordinator ${fmt(loadPeaks.coordinatorMb)} MB, agent ${fmt(loadPeaks.agentMb)} MB, nats-server ${fmt(loadPeaks.natsMb)} MB (limit ${RSS_LIMIT_MB} MB)\n\n`);
    const handles = (m: LoadProcessMeasure): number => Object.values(m.resources).reduce((x, y) => x + y, 0);
    const handleSums = {
      coordinator: { before: handles(before.coordinator), after: handles(after.coordinator) },
      agent: { before: handles(before.agent), after: handles(after.agent) },
    };
    const soakRows = (["coordinator", "agent"] as const).map((name) => {
      const b = before[name];
      const a = after[name];
      return [name, fmt(b.heapUsedBytes / 2 ** 20, 1), fmt(a.heapUsedBytes / 2 ** 20, 1), fmt(a.heapUsedBytes / b.heapUsedBytes, 3), String(handleSums[name].before), String(handleSums[name].after), fmt(a.rssBytes / 2 ** 20)];
    });
    out(`soak: ${SOAK_CALLS} calls started then cancelled in ${(soakMs / 1000).toFixed(1)} s (${SOAK_CONCURRENCY} at a time); how they ended: ${JSON.stringify(soakEnds)}; measured ${SOAK_SETTLE_MS / 1000} s later\n`);
    out(layoutTable(["process", "heap before MB", "heap after MB", "ratio", "handles before", "handles after", "RSS after MB"], soakRows) + "\n");
    const unexpected = Object.keys(soakEnds).filter((code) => !["CANCELLED", "OK", "RESOURCE_EXHAUSTED"].includes(code));
    if (unexpected.length > 0) out(`soak calls that ended ${unexpected.join(", ")}: ${JSON.stringify(soakSamples)}; the coordinator's last log lines:\n${coordinator.process.stderr().slice(-4_000)}\n`);
    for (const name of ["coordinator", "agent"] as const) {
      out(`${name} handles before ${JSON.stringify(before[name].resources)} after ${JSON.stringify(after[name].resources)}\n`);
    }

    const goals = [
      { goal: "at 10×, no call timed out (no DEADLINE_EXCEEDED, no report with a task timed out)", met: steps.filter((s) => s.load === 10).every((s) => s.timedOut === 0 && s.degraded === 0) },
      { goal: "at 10×, shed calls answered with RESOURCE_EXHAUSTED", met: steps.filter((s) => s.load === 10).every((s) => s.shedPct > 0 && s.otherErrors === 0) },
      {
        goal: "at 10×, accepted p99 within 2× its value at 1×",
        met: steps.filter((s) => s.load === 10).every((s) => s.p99Ms <= 2 * steps.find((b) => b.callers === s.callers && b.load === 1)!.p99Ms),
      },
      { goal: `no process over ${RSS_LIMIT_MB} MB`, met: Math.max(loadPeaks.coordinatorMb, loadPeaks.agentMb, loadPeaks.natsMb || 0) <= RSS_LIMIT_MB },
      { goal: "after the soak, heap within 10 % of its start (coordinator, agent)", met: (["coordinator", "agent"] as const).every((n) => after[n].heapUsedBytes <= 1.1 * before[n].heapUsedBytes) },
      {
        goal: "after the soak, no leaked handles (coordinator, agent)",
        met: (["coordinator", "agent"] as const).every((n) => handleSums[n].after <= handleSums[n].before),
      },
    ];
    out("\n");
    for (const g of goals) out(`goal ${g.met ? "met   " : "MISSED"}  ${g.goal}\n`);
    const path = await writeJson(startedAt, { startedAt: startedAt.toISOString(), capacity, steps, loadPeaks, soak: { calls: SOAK_CALLS, ms: soakMs, ends: soakEnds, settleMs: SOAK_SETTLE_MS, before, after }, goals }, "load");
    out(`\nJSON: ${path}\n`);
  } finally {
    for (const stop of stoppers.reverse()) await stop().catch((error: unknown) => log(`stop failed: ${String(error)}`));
    clearTimeout(watchdog);
  }
}

await main();
