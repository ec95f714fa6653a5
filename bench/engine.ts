// `npm run bench:engine`: the handshake engine against a minimal hand-rolled handshake (raw
// net/tls, same TLS settings, no parsing or recording), side by side in one run, against local
// targets in processes of their own. Only 127.0.0.1 is ever contacted; every loop is bounded in
// count and time; the run stops by itself (a watchdog ends it after WATCHDOG_MS whatever happens).
//
// Sections:
//   1. smtp-server fixture (STARTTLS, test-PKI certificate, no reverse lookup), with smtp-server's
//      fixed 100 ms early-talker pause removed in the target process: sequential p50/p99, client
//      CPU per handshake, handshakes/s at concurrency 1/8/32/128.
//   2. The same fixture as shipped (pause on): a short sequential sample, to show the pause.
//   3. 1,000 probes held open by a silent server: RSS per held probe, then all aborted.
//   4. Postfix (when it can run here): the same as 1, plus the ~40 ms stall after the TLS
//      handshake — where it sits, whether the client's setNoDelay matters, and what causes it.
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Phase, type HandshakeResult } from "../gen/smtpprobe/v1/handshake.js";
import { testPki } from "../test/helpers/certs.js";
import { postfixAvailable, startPostfix, type PostfixInstance } from "../test/helpers/postfix.js";
import { withTimeout } from "../test/helpers/wait.js";
import { engineClient, minimalClient, type BenchTarget } from "./clients.js";
import type { HeldProbesConfig, HeldProbesMessage, HeldProbesRequest } from "./held-probes.js";
import { measureSequential, measureThroughput, type LatencyResult, type SequentialPlan, type ThroughputPlan, type ThroughputResult } from "./measure.js";
import { commandOutput, judge, machineEnvironment, renderTable, sectionOf, sectionRow, writeJson, type Row } from "./report.js";
import { summarize, type Summary } from "./stats.js";
import { startTargetProcess, type TargetProcess } from "./targets.js";

const WATCHDOG_MS = 210_000;
const LEVELS = [1, 8, 32, 128] as const;
const HELD_PROBES = 1_000;

const PLAN = {
  fixtureSequential: { warmup: 30, iterations: 500, budgetMs: 20_000 } satisfies SequentialPlan,
  fixtureAsShipped: { warmup: 3, iterations: 40, budgetMs: 12_000 } satisfies SequentialPlan,
  postfixSequential: { warmup: 10, iterations: 300, budgetMs: 40_000 } satisfies SequentialPlan,
  stall: { warmup: 3, iterations: 50, budgetMs: 15_000 } satisfies SequentialPlan,
  throughput: { levels: LEVELS, windowMs: 2_400, maxCountPerHalf: 5_000, warmupMs: 400 } satisfies ThroughputPlan,
  heldHoldMs: 1_000,
};

const GOALS = {
  p50: { text: "≤ 1.10", on: "ratio", max: 1.1 },
  throughput32: { text: "≥ 0.90", on: "ratio", min: 0.9 },
  heldKb: { text: "≤ 64", on: "engine", max: 64 },
} as const;

const log = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`);
};

// ---- sections ---------------------------------------------------------------------------------

interface TargetSection {
  target: BenchTarget;
  sequential: Record<string, LatencyResult>;
  throughput: Record<string, ThroughputResult[]>;
}

async function benchTarget(target: BenchTarget, sequentialPlan: SequentialPlan, serverCpu?: () => Promise<number>): Promise<TargetSection> {
  const engine = engineClient(target);
  const minimal = minimalClient(target);
  log(`${target.label}: sequential, ${sequentialPlan.iterations} handshakes per client after ${sequentialPlan.warmup} warm-up`);
  const sequential = await measureSequential({ engine, minimal }, sequentialPlan);
  log(`${target.label}: throughput at concurrency ${LEVELS.join("/")}, ${PLAN.throughput.windowMs} ms per client and level`);
  const throughput = await measureThroughput({ name: "engine", run: engine }, { name: "minimal", run: minimal }, PLAN.throughput, serverCpu);
  return { target, sequential, throughput };
}

function targetRows(section: TargetSection): Row[] {
  const { engine, minimal } = section.sequential;
  const rows: Row[] = [
    sectionRow(`${section.target.label} (127.0.0.1:${section.target.port}, SNI ${section.target.host})`),
    { metric: "sequential p50, ms", engine: engine?.latencyMs.p50, minimal: minimal?.latencyMs.p50, digits: 2, goal: GOALS.p50 },
    { metric: "sequential p99, ms", engine: engine?.latencyMs.p99, minimal: minimal?.latencyMs.p99, digits: 2 },
    { metric: `  (n per client)`, engine: engine?.latencyMs.n, minimal: minimal?.latencyMs.n, digits: 0, ratio: Number.NaN },
    { metric: "client CPU per handshake p50, µs", engine: engine?.cpuUs.p50, minimal: minimal?.cpuUs.p50, digits: 0 },
  ];
  LEVELS.forEach((level, i) => {
    const e = section.throughput.engine?.[i];
    const m = section.throughput.minimal?.[i];
    rows.push({
      metric: `handshakes/s at concurrency ${level}`,
      engine: e?.perSecond,
      minimal: m?.perSecond,
      digits: 0,
      ...(level === 32 ? { goal: GOALS.throughput32 } : {}),
    });
  });
  const at32 = LEVELS.indexOf(32);
  const e32 = section.throughput.engine?.[at32];
  const m32 = section.throughput.minimal?.[at32];
  rows.push({ metric: "  client CPU per handshake at concurrency 32, µs", engine: e32?.clientCpuUs, minimal: m32?.clientCpuUs, digits: 0 });
  if (e32?.serverCpuUs !== undefined || m32?.serverCpuUs !== undefined) {
    rows.push({ metric: "  server CPU per handshake at concurrency 32, µs", engine: e32?.serverCpuUs, minimal: m32?.serverCpuUs, digits: 0 });
  }
  return rows;
}

function failureNotes(label: string, section: Pick<TargetSection, "sequential"> & Partial<Pick<TargetSection, "throughput">>): string[] {
  const notes: string[] = [];
  for (const [client, result] of Object.entries(section.sequential)) {
    if (result.failures > 0) notes.push(`${label}: ${client} failed ${result.failures} sequential handshakes (first: ${result.firstFailure})`);
  }
  for (const [client, levels] of Object.entries(section.throughput ?? {})) {
    for (const level of levels) {
      if (level.failures > 0) notes.push(`${label}: ${client} failed ${level.failures} handshakes at concurrency ${level.concurrency} (first: ${level.firstFailure})`);
    }
  }
  return notes;
}

// ---- held probes ------------------------------------------------------------------------------

interface HeldSection {
  client: "engine" | "minimal";
  count: number;
  held?: Extract<HeldProbesMessage, { type: "held" }>;
  done?: Extract<HeldProbesMessage, { type: "done" }>;
  serverOpenWhileHeld?: number;
  serverOpenAfterAbort?: number;
  kbPerProbe?: number;
  retainedHeapKbPerProbe?: number;
  error?: string;
}

const heldProbesPath = fileURLToPath(new URL("./held-probes.ts", import.meta.url));

async function measureHeld(client: "engine" | "minimal", target: TargetProcess): Promise<HeldSection> {
  const port = target.silentPort;
  const section: HeldSection = { client, count: HELD_PROBES };
  if (port === undefined) return { ...section, error: "no silent server" };
  const config: HeldProbesConfig = { client, port, count: HELD_PROBES, holdMs: PLAN.heldHoldMs };
  const child = fork(heldProbesPath, [JSON.stringify(config)], {
    execArgv: [...process.execArgv, "--expose-gc"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const next = (type: "held" | "done", timeoutMs: number): Promise<HeldProbesMessage> =>
    withTimeout(
      new Promise<HeldProbesMessage>((resolve, reject) => {
        const onMessage = (message: HeldProbesMessage): void => {
          if (message.type !== type && message.type !== "failed") return;
          child.off("message", onMessage);
          child.off("exit", onExit);
          resolve(message);
        };
        const onExit = (code: number | null): void => {
          child.off("message", onMessage);
          reject(new Error(`held-probe process exited (${code}) before "${type}"`));
        };
        child.on("message", onMessage);
        child.once("exit", onExit);
      }),
      timeoutMs,
      `held-probe process "${type}"`,
    );
  try {
    const held = await next("held", 60_000);
    if (held.type !== "held") throw new Error(held.type === "failed" ? held.error : "unexpected message");
    section.held = held;
    section.serverOpenWhileHeld = (await target.silentConnections()).open;
    section.kbPerProbe = (held.heldPeak.rssKb - held.before.rssKb) / HELD_PROBES;
    section.retainedHeapKbPerProbe = (held.heldAfterGc.heapUsedKb - held.before.heapUsedKb) / HELD_PROBES;
    const donePromise = next("done", 30_000);
    child.send({ type: "abort" } satisfies HeldProbesRequest);
    const done = await donePromise;
    if (done.type !== "done") throw new Error(done.type === "failed" ? done.error : "unexpected message");
    section.done = done;
    // The server sees the closes a moment later.
    const deadline = performance.now() + 3_000;
    let open = (await target.silentConnections()).open;
    while (open > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      open = (await target.silentConnections()).open;
    }
    section.serverOpenAfterAbort = open;
  } catch (error) {
    section.error = error instanceof Error ? error.message : String(error);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await withTimeout(exited, 5_000, "held-probe process exit").catch(() => undefined);
  }
  return section;
}

function heldRows(engine: HeldSection, minimal: HeldSection): Row[] {
  const cancelled = (s: HeldSection): number | undefined => (s.done ? (s.done.outcomes.CANCELLED ?? 0) : undefined);
  const mb = (kb: number | undefined): number | undefined => (kb === undefined ? undefined : kb / 1024);
  return [
    sectionRow(`${HELD_PROBES} probes held open by a silent server (fresh process each, banner timeout 100 s)`),
    { metric: "connected and waiting for the banner", engine: engine.held?.connected, minimal: minimal.held?.connected, digits: 0, ratio: Number.NaN },
    { metric: "  open at the server meanwhile", engine: engine.serverOpenWhileHeld, minimal: minimal.serverOpenWhileHeld, digits: 0, ratio: Number.NaN },
    { metric: "RSS before, MB", engine: mb(engine.held?.before.rssKb), minimal: mb(minimal.held?.before.rssKb), digits: 1 },
    { metric: "RSS held (peak sampled), MB", engine: mb(engine.held?.heldPeak.rssKb), minimal: mb(minimal.held?.heldPeak.rssKb), digits: 1 },
    { metric: "peak RSS of the process (getrusage), MB", engine: mb(engine.done?.maxRssKb), minimal: mb(minimal.done?.maxRssKb), digits: 1 },
    { metric: "RSS per held probe, KB", engine: engine.kbPerProbe, minimal: minimal.kbPerProbe, digits: 1, goal: GOALS.heldKb },
    { metric: "JS heap retained per held probe (after GC), KB", engine: engine.retainedHeapKbPerProbe, minimal: minimal.retainedHeapKbPerProbe, digits: 2 },
    { metric: "returned CANCELLED after abort", engine: cancelled(engine), minimal: cancelled(minimal), digits: 0, ratio: Number.NaN },
    { metric: "abort → all returned, ms", engine: engine.done?.settleMs, minimal: minimal.done?.settleMs, digits: 1 },
    { metric: "server-side connections left open after abort", engine: engine.serverOpenAfterAbort, minimal: minimal.serverOpenAfterAbort, digits: 0, ratio: Number.NaN },
  ];
}

// ---- the Postfix stall ------------------------------------------------------------------------

interface StallSection {
  /** Handshake wall time per client. */
  total: Record<string, Summary>;
  /** TLS handshake (STARTTLS reply → secure), per client. */
  tlsMs: Record<string, Summary>;
  /** EHLO sent over TLS → its reply, per client: where the stall sits. */
  ehloTlsMs: Record<string, Summary>;
  failures: Record<string, number>;
}

/**
 * The stall after the TLS handshake: the engine (phase timings from its result), the minimal
 * client with and without setNoDelay, and — as the experiment that names the cause — the minimal
 * client capped at TLS 1.2 (no TLS 1.3 NewSessionTicket messages after the handshake).
 */
async function measureStall(target: BenchTarget): Promise<StallSection> {
  const tls: Record<string, number[]> = {};
  const ehlo: Record<string, number[]> = {};
  const add = (client: string, tlsMs: number, ehloMs: number): void => {
    (tls[client] ??= []).push(tlsMs);
    (ehlo[client] ??= []).push(ehloMs);
  };
  const fromMarks = (client: string) => (marks: number[]) => {
    // [start, banner, EHLO, STARTTLS, secureConnect, EHLO over TLS, QUIT]
    const [, , , starttls = 0, secure = 0, ehloTls = 0] = marks;
    add(client, secure - starttls, ehloTls - secure);
  };
  const fromResult = (result: HandshakeResult): void => {
    const phase = (p: Phase): number => result.timings.find((t) => t.phase === p)?.durationMs ?? Number.NaN;
    add("engine", phase(Phase.PHASE_TLS), phase(Phase.PHASE_EHLO_TLS));
  };
  const clients = {
    engine: engineClient(target, fromResult),
    minimal: minimalClient(target, { onMarks: fromMarks("minimal") }),
    "minimal without setNoDelay": minimalClient(target, { noDelay: false, onMarks: fromMarks("minimal without setNoDelay") }),
    "minimal capped at TLS 1.2": minimalClient(target, { tlsOverrides: { maxVersion: "TLSv1.2" }, onMarks: fromMarks("minimal capped at TLS 1.2") }),
  };
  const sequential = await measureSequential(clients, PLAN.stall);
  const keep = PLAN.stall.warmup; // the warm-up runs also called onResult/onMarks: drop them
  const summaries = (by: Record<string, number[]>): Record<string, Summary> =>
    Object.fromEntries(Object.entries(by).map(([client, sample]) => [client, summarize(sample.slice(keep))]));
  return {
    total: Object.fromEntries(Object.entries(sequential).map(([client, r]) => [client, r.latencyMs])),
    tlsMs: summaries(tls),
    ehloTlsMs: summaries(ehlo),
    failures: Object.fromEntries(Object.entries(sequential).map(([client, r]) => [client, r.failures])),
  };
}

function stallRows(stall: StallSection): Row[] {
  const p50 = (by: Record<string, Summary>, client: string): number | undefined => by[client]?.p50;
  const rows: Row[] = [sectionRow(`Postfix: the stall after the TLS handshake (${PLAN.stall.iterations} handshakes per client)`)];
  for (const [label, by] of [
    ["handshake p50, ms", stall.total],
    ["TLS handshake p50, ms", stall.tlsMs],
    ["EHLO over TLS → reply p50, ms", stall.ehloTlsMs],
  ] as const) {
    rows.push({ metric: `${label}`, engine: p50(by, "engine"), minimal: p50(by, "minimal"), digits: 2 });
    rows.push({ metric: `  vs minimal without setNoDelay`, engine: p50(by, "engine"), minimal: p50(by, "minimal without setNoDelay"), digits: 2 });
  }
  rows.push({
    metric: "  EHLO over TLS → reply p50, minimal capped at TLS 1.2 (diagnostic)",
    engine: undefined,
    minimal: p50(stall.ehloTlsMs, "minimal capped at TLS 1.2"),
    digits: 2,
    ratio: Number.NaN,
  });
  return rows;
}

async function benchPostfix(
  postfix: PostfixInstance,
  stoppers: (() => Promise<void>)[],
  rows: Row[],
  notes: string[],
  data: Record<string, unknown>,
): Promise<void> {
  stoppers.push(() => postfix.stop());
  const target: BenchTarget = { label: "Postfix", host: "localhost", address: "127.0.0.1", port: postfix.port };
  log("Postfix: the stall after the TLS handshake");
  const stall = await measureStall(target);
  const section = await benchTarget(target, PLAN.postfixSequential);
  rows.push(...targetRows(section), ...stallRows(stall));
  notes.push(...failureNotes("Postfix", section));
  for (const [client, failures] of Object.entries(stall.failures)) {
    if (failures > 0) notes.push(`Postfix stall test: ${client} failed ${failures} handshakes`);
  }
  data.postfix = { ...section, version: commandOutput("postconf", ["-d", "-h", "mail_version"]), stall };
  await postfix.stop();
}

// ---- environment and main ---------------------------------------------------------------------

function environment(): Record<string, unknown> {
  const packageVersion = (name: string): string | undefined => {
    try {
      const path = fileURLToPath(new URL(`../node_modules/${name}/package.json`, import.meta.url));
      return (JSON.parse(readFileSync(path, "utf8")) as { version?: string }).version;
    } catch {
      return undefined;
    }
  };
  return {
    ...machineEnvironment(["agents", "gen"]),
    openssl: process.versions.openssl,
    smtpServer: packageVersion("smtp-server"),
    postfix: commandOutput("postconf", ["-d", "-h", "mail_version"]),
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch((error: unknown) => log(`stop failed: ${String(error)}`));
  };
  const watchdog = setTimeout(() => {
    log(`watchdog: the run exceeded ${WATCHDOG_MS / 1000} s, stopping`);
    void withTimeout(stopAll(), 10_000, "stopping targets").finally(() => process.exit(2));
  }, WATCHDOG_MS);
  const onSignal = (): void => {
    void withTimeout(stopAll(), 10_000, "stopping targets").finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const rows: Row[] = [];
  const notes: string[] = [];
  const loadBefore = loadavg();
  const data: Record<string, unknown> = { startedAt: startedAt.toISOString(), environment: environment(), plan: PLAN, loadAverageBefore: loadBefore };
  try {
    // 1. smtp-server fixture, early-talker pause removed.
    log("starting the smtp-server fixture process (early-talker pause off) with a silent server");
    const fixture = await startTargetProcess({ earlyTalkerPause: false, silent: true });
    stoppers.push(() => fixture.stop());
    const fixtureSection = await benchTarget(
      { label: "smtp-server fixture, 100 ms early-talker pause removed", host: "localhost", address: "127.0.0.1", port: fixture.smtpPort },
      PLAN.fixtureSequential,
      () => fixture.cpuUs(),
    );
    rows.push(...targetRows(fixtureSection));
    notes.push(...failureNotes("smtp-server", fixtureSection));
    data.smtpServer = fixtureSection;

    // 2. The fixture as shipped.
    log("starting the smtp-server fixture process as shipped (100 ms early-talker pause)");
    const shipped = await startTargetProcess({ earlyTalkerPause: true, silent: false });
    stoppers.push(() => shipped.stop());
    const shippedTarget: BenchTarget = { label: "smtp-server fixture as shipped", host: "localhost", address: "127.0.0.1", port: shipped.smtpPort };
    log(`${shippedTarget.label}: sequential, ${PLAN.fixtureAsShipped.iterations} handshakes per client`);
    const shippedSequential = await measureSequential(
      { engine: engineClient(shippedTarget), minimal: minimalClient(shippedTarget) },
      PLAN.fixtureAsShipped,
    );
    await shipped.stop();
    rows.push(
      sectionRow(`${shippedTarget.label} (smtp-server's fixed 100 ms before the greeting)`),
      { metric: "sequential p50, ms", engine: shippedSequential.engine?.latencyMs.p50, minimal: shippedSequential.minimal?.latencyMs.p50, digits: 2 },
      { metric: "sequential p99, ms", engine: shippedSequential.engine?.latencyMs.p99, minimal: shippedSequential.minimal?.latencyMs.p99, digits: 2 },
    );
    notes.push(...failureNotes("smtp-server as shipped", { sequential: shippedSequential }));
    data.smtpServerAsShipped = { target: shippedTarget, sequential: shippedSequential };

    // 3. Held probes.
    log(`holding ${HELD_PROBES} probes against the silent server: engine`);
    const heldEngine = await measureHeld("engine", fixture);
    log(`holding ${HELD_PROBES} probes against the silent server: minimal`);
    const heldMinimal = await measureHeld("minimal", fixture);
    rows.push(...heldRows(heldEngine, heldMinimal));
    for (const held of [heldEngine, heldMinimal]) {
      if (held.error) notes.push(`held probes (${held.client}): ${held.error}`);
      if (held.done && (held.done.outcomes.CANCELLED ?? 0) !== HELD_PROBES) {
        notes.push(`held probes (${held.client}): not all CANCELLED: ${JSON.stringify(held.done.outcomes)}`);
      }
    }
    data.heldProbes = { engine: heldEngine, minimal: heldMinimal };
    await fixture.stop();

    // 4. Postfix.
    const unavailable = await postfixAvailable();
    if (unavailable !== undefined) {
      log(`Postfix skipped: ${unavailable}`);
      rows.push(sectionRow(`Postfix: skipped (${unavailable})`));
      data.postfix = { skipped: unavailable };
    } else {
      log("starting a private Postfix");
      const leaf = await (await testPki()).leaf({ names: ["postfix.test", "localhost", "127.0.0.1"] });
      let postfix: PostfixInstance | undefined;
      try {
        // Enough smtpd processes for concurrency 128 (the default limit is 100).
        postfix = await startPostfix({ certPem: leaf.certPem, keyPem: leaf.keyPem, mainCf: { default_process_limit: "160" } });
      } catch (error) {
        const reason = `Postfix did not start: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
        log(reason);
        rows.push(sectionRow(`Postfix: skipped (${reason})`));
        data.postfix = { skipped: reason };
      }
      if (postfix) await benchPostfix(postfix, stoppers, rows, notes, data);
    }
  } finally {
    await stopAll();
    clearTimeout(watchdog);
  }

  const finishedAt = new Date();
  const verdicts = rows.filter((row) => !row.section).map(judge);
  const goals = rows.filter((row) => row.goal && !row.section).map((row) => ({ section: sectionOf(rows, row), ...judge(row) }));
  const loadAfter = loadavg();
  Object.assign(data, { loadAverageAfter: loadAfter, finishedAt: finishedAt.toISOString(), durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000, table: verdicts, goals, notes });
  const path = await writeJson(startedAt, data);

  process.stdout.write(`\nsmtp-probe engine bench — engine = runHandshake (agents/smtp), minimal = raw net/tls handshake (bench/minimal-handshake.ts)\n`);
  process.stdout.write(`ratio = engine ÷ minimal; lower is better for ms, µs and KB, higher for handshakes/s\n`);
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(" ");
  process.stdout.write(`${cpus().length} CPUs; load average ${load(loadBefore)} at the start, ${load(loadAfter)} at the end`);
  process.stdout.write(loadBefore[0] !== undefined && loadBefore[0] > cpus().length / 2 ? " (other work on the machine: expect noise)\n\n" : "\n\n");
  process.stdout.write(`${renderTable(rows)}\n\n`);
  for (const goal of goals) {
    process.stdout.write(`goal ${goal.met === null ? "UNKNOWN" : goal.met ? "met   " : "MISSED"}  ${goal.section}: ${goal.metric} — ${goal.goal}\n`);
  }
  for (const note of notes) process.stdout.write(`note: ${note}\n`);
  process.stdout.write(`\nrun took ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(1)} s; JSON: ${path}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("bench failed:", error);
    process.exit(1);
  },
);

