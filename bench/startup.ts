// `npm run bench:startup`, and the first part of `npm run bench`: what starting smtp-probe costs,
// for the compiled command as a user runs it (node bin/smtp-probe.js → dist/, built by the
// npm script's pre-step). Only 127.0.0.1 is contacted; every run has a kill timeout, the whole
// bench a watchdog; every process started here is stopped by its own id.
//
// Sections, in the order they run:
//   1. `smtp-probe --help`: CPU time (user + system) of the whole process, median of HELP_RUNS.
//   2. A local `check` of a loopback Postfix STARTTLS port, the whole process, against
//      `swaks --tls --quit-after EHLO` on the same port, interleaved (ABBA): wall time from spawn
//      to exit. Both do connect, banner, EHLO, STARTTLS, TLS, EHLO, QUIT.
//   3. Idle agents connected to a private nats-server, started one after the other: time from
//      spawn until a discovery round (bus.discover, as the coordinator runs it) lists the agent,
//      and VmRSS when it is discovered and after IDLE_MS with no task.
import { execFileSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { connectNatsBus } from "../lib/nats-bus.js";
import { testPki } from "../test/helpers/certs.js";
import { natsServerAvailable, startNatsServer } from "../test/helpers/nats-server.js";
import { postfixAvailable, startPostfix } from "../test/helpers/postfix.js";
import { delay, withTimeout } from "../test/helpers/wait.js";
import { commandOutput, machineEnvironment, sectionOf, writeJson } from "./report.js";
import { readMemory, spawnSmtpProbe, type ServiceProcess } from "./service-processes.js";
import { heading, judgeRow, renderServiceTable, type ServiceRow } from "./service-report.js";
import { percentile } from "./stats.js";
import { median, runSmtpProbe, runToEnd, whenDiscovered, type ProcessRun } from "./startup-measure.js";

const PLAN = {
  helpRuns: 9,
  checkPairs: 16,
  agents: 5,
  /** A discovery round's wait for answers: the bound on how late "discoverable" is seen. */
  discoveryRoundMs: 25,
  discoverTimeoutMs: 20_000,
  /** How long the agents sit idle before their RSS counts as the idle figure. */
  idleMs: 30_000,
  killMs: 20_000,
};
const WATCHDOG_MS = 240_000;
const GOALS = { helpCpuS: 0.3, checkWallRatio: 1.0, agentRssMb: 60, discoverableMs: 500 };

const log = (message: string): void => void process.stderr.write(`[bench:startup] ${message}\n`);

type Report = { rows: ServiceRow[]; notes: string[]; data: Record<string, unknown> };

async function helpSection(report: Report): Promise<void> {
  log(`smtp-probe --help, ${PLAN.helpRuns} runs (and one to warm the file cache)`);
  await runSmtpProbe(["--help"], PLAN.killMs);
  const runs: ProcessRun[] = [];
  for (let i = 0; i < PLAN.helpRuns; i++) runs.push(checkedRun(await runSmtpProbe(["--help"], PLAN.killMs), [0], "smtp-probe --help"));
  report.rows.push(
    heading(`smtp-probe --help, compiled (${PLAN.helpRuns} runs)`),
    { metric: "  CPU user + system, median, s", value: median(runs.map((r) => r.cpuS ?? Number.NaN)), digits: 3, goal: { text: `≤ ${GOALS.helpCpuS.toFixed(2)} s`, on: "value", max: GOALS.helpCpuS } },
    { metric: "  wall time, median, ms", value: median(runs.map((r) => r.wallMs)), digits: 0 },
    { metric: "  peak RSS, median, MB", value: median(runs.map((r) => r.peakRssMb ?? Number.NaN)), digits: 1 },
  );
  report.data.help = runs.map(({ wallMs, cpuS, peakRssMb }) => ({ wallMs, cpuS, peakRssMb }));
}

async function checkSection(report: Report, stoppers: (() => Promise<void>)[]): Promise<void> {
  const title = "a local check of a loopback Postfix STARTTLS port, whole process (baseline: swaks --tls --quit-after EHLO)";
  const skip = (why: string): void => {
    log(`check vs swaks skipped: ${why}`);
    report.rows.push(heading(`${title}: skipped (${why})`));
    report.data.check = { skipped: why };
  };
  const unavailable = await postfixAvailable();
  if (unavailable) return skip(unavailable);
  const swaks = commandOutput("swaks", ["--version"]);
  if (!swaks) return skip("swaks is not installed (apt-get install swaks libnet-ssleay-perl)");
  log("starting a private Postfix");
  const leaf = await (await testPki()).leaf({ names: ["postfix.test", "localhost", "127.0.0.1"] });
  const postfix = await startPostfix({ certPem: leaf.certPem, keyPem: leaf.keyPem });
  stoppers.push(() => postfix.stop());
  const port = String(postfix.port);
  const probe = (): Promise<ProcessRun> => runSmtpProbe(["check", "127.0.0.1", "--port", port], PLAN.killMs);
  const swaksRun = (): Promise<ProcessRun> => runToEnd("swaks", ["--tls", "--quit-after", "EHLO", "-s", "127.0.0.1", "-p", port], PLAN.killMs);
  // Its certificate is the test CA's, which the check does not trust: an error finding, exit 1.
  const probeCodes = [0, 1];
  const first = await swaksRun();
  if (first.code !== 0) return skip(`swaks failed: ${first.stderr.trim().split("\n").pop() ?? `exit ${first.code}`}`);
  checkedRun(await probe(), probeCodes, "smtp-probe check");
  log(`check vs swaks on 127.0.0.1:${port}, ${PLAN.checkPairs} each, interleaved`);
  const checks: ProcessRun[] = [];
  const baselines: ProcessRun[] = [];
  for (let i = 0; i < PLAN.checkPairs; i++) {
    // A B B A: neither always runs right after the other.
    if (i % 2 === 0) {
      checks.push(checkedRun(await probe(), probeCodes, "smtp-probe check"));
      baselines.push(checkedRun(await swaksRun(), [0], "swaks"));
    } else {
      baselines.push(checkedRun(await swaksRun(), [0], "swaks"));
      checks.push(checkedRun(await probe(), probeCodes, "smtp-probe check"));
    }
  }
  const wall = (runs: ProcessRun[], p: number): number => percentile([...runs.map((r) => r.wallMs)].sort((a, b) => a - b), p);
  report.rows.push(
    heading(`${title}, ${PLAN.checkPairs} each, interleaved`),
    { metric: "  wall time p50, ms", value: wall(checks, 50), baseline: wall(baselines, 50), compare: "ratio", digits: 0, goal: { text: `≤ ${GOALS.checkWallRatio.toFixed(2)}×`, on: "compare", max: GOALS.checkWallRatio } },
    { metric: "  wall time p90, ms", value: wall(checks, 90), baseline: wall(baselines, 90), compare: "ratio", digits: 0 },
    { metric: "  CPU of the check, median, s", value: median(checks.map((r) => r.cpuS ?? Number.NaN)), digits: 3 },
  );
  report.data.check = { swaks, postfix: commandOutput("postconf", ["-d", "-h", "mail_version"]), smtpProbe: checks.map(({ wallMs, cpuS }) => ({ wallMs, cpuS })), swaksRuns: baselines.map(({ wallMs }) => ({ wallMs })) };
  await postfix.stop();
}

async function agentSection(report: Report, stoppers: (() => Promise<void>)[]): Promise<void> {
  const title = `idle agents connected to NATS (${PLAN.agents}, started one after the other)`;
  const unavailable = await natsServerAvailable();
  if (unavailable) {
    log(`agents skipped: ${unavailable}`);
    report.rows.push(heading(`${title}: skipped (${unavailable})`));
    report.data.agents = { skipped: unavailable };
    return;
  }
  const nats = await startNatsServer({ jetstream: false });
  stoppers.push(() => nats.stop());
  const bus = await connectNatsBus({ servers: nats.url, name: "bench-startup" });
  stoppers.push(() => bus.drain());
  const agents: { process: ServiceProcess; discoverableMs: number; rssAtDiscoveryMb: number }[] = [];
  stoppers.push(() => Promise.all(agents.map((a) => a.process.stop(5_000))).then(() => undefined));
  for (let i = 0; i < PLAN.agents; i++) {
    const agentId = `bench-startup-${i + 1}`;
    const spawnedAt = performance.now();
    const process = spawnSmtpProbe(agentId, ["agent", "--region", "bench", "--agent-id", agentId, "--nats", nats.url, "--log-level", "warn"]);
    const seenAt = await whenDiscovered(bus, agentId, PLAN.discoveryRoundMs, PLAN.discoverTimeoutMs);
    if (seenAt === undefined) throw new Error(`${agentId} was not discovered within ${PLAN.discoverTimeoutMs} ms: ${process.stderr()}`);
    agents.push({ process, discoverableMs: seenAt - spawnedAt, rssAtDiscoveryMb: (readMemory(process.pid)?.rssKb ?? Number.NaN) / 1024 });
  }
  log(`${PLAN.agents} agents discovered; idle for ${PLAN.idleMs / 1000} s`);
  await delay(PLAN.idleMs);
  const idle = agents.map((a) => readMemory(a.process.pid));
  const exited = agents.filter((a) => a.process.exited());
  if (exited.length > 0) throw new Error(`agents exited while idle: ${exited.map((a) => `${a.process.label}: ${a.process.stderr()}`).join("; ")}`);
  const discoverable = agents.map((a) => a.discoverableMs);
  report.rows.push(
    heading(title),
    { metric: "  spawn → discoverable, median, ms", value: median(discoverable), digits: 0, goal: { text: `≤ ${GOALS.discoverableMs} ms`, on: "value", max: GOALS.discoverableMs } },
    { metric: "  spawn → discoverable, slowest, ms", value: Math.max(...discoverable), digits: 0 },
    { metric: "  RSS when discovered, median, MB", value: median(agents.map((a) => a.rssAtDiscoveryMb)), digits: 1 },
    {
      metric: `  RSS after ${PLAN.idleMs / 1000} s idle, median, MB`,
      value: median(idle.map((m) => (m?.rssKb ?? Number.NaN) / 1024)),
      digits: 1,
      goal: { text: `≤ ${GOALS.agentRssMb} MB`, on: "value", max: GOALS.agentRssMb },
    },
  );
  report.data.agents = agents.map((a, i) => ({ discoverableMs: a.discoverableMs, rssAtDiscoveryMb: a.rssAtDiscoveryMb, idle: idle[i] }));
}

/** The run, or an error naming the command and what it printed when its exit code is not one of `codes`. */
function checkedRun(run: ProcessRun, codes: readonly number[], what: string): ProcessRun {
  if (run.code === null || !codes.includes(run.code)) throw new Error(`${what} exited ${run.code ?? "(killed)"}: ${run.stderr.trim().slice(-2000)}`);
  return run;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg();
  const report: Report = {
    rows: [],
    notes: [],
    data: { startedAt: startedAt.toISOString(), environment: { ...machineEnvironment(["cli", "lib", "agents", "services", "gen", "scripts", "bin"]) }, plan: PLAN, goals: GOALS, loadAverageBefore: loadBefore },
  };
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch((error: unknown) => log(`stop failed: ${String(error)}`));
  };
  const watchdog = setTimeout(() => {
    log(`watchdog: the run exceeded ${WATCHDOG_MS / 1000} s; stopping`);
    void withTimeout(stopAll(), 20_000, "stopping").finally(() => process.exit(2));
  }, WATCHDOG_MS);
  process.on("SIGINT", () => void withTimeout(stopAll(), 20_000, "stopping").finally(() => process.exit(130)));
  // Fails early, with a clear message, when dist/ is missing (the npm script builds it first).
  execFileSync(process.execPath, [new URL("../bin/smtp-probe.js", import.meta.url).pathname, "--version"], { stdio: "ignore", timeout: PLAN.killMs });
  try {
    await helpSection(report);
    await checkSection(report, stoppers);
    await agentSection(report, stoppers);
  } finally {
    await stopAll();
    clearTimeout(watchdog);
  }

  const loadAfter = loadavg();
  const table = report.rows.filter((row) => !row.section).map(judgeRow);
  const goals = report.rows.filter((row) => row.goal && !row.section).map((row) => ({ section: sectionOf(report.rows, row), ...judgeRow(row) }));
  const finishedAt = new Date();
  Object.assign(report.data, { loadAverageAfter: loadAfter, finishedAt: finishedAt.toISOString(), table, goals, notes: report.notes });
  const path = await writeJson(startedAt, report.data, "startup");

  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(" ");
  const out = (text: string): boolean => process.stdout.write(text);
  out(`\nsmtp-probe start-up bench — the compiled command (node ${process.version} bin/smtp-probe.js → dist/), each a process of its own\n`);
  out(`${cpus().length} CPUs; load average ${load(loadBefore)} at the start, ${load(loadAfter)} at the end`);
  out(loadBefore[0] !== undefined && loadBefore[0] > cpus().length / 2 ? " (other work on the machine: expect noise)\n" : "\n");
  out(`\n${renderServiceTable(report.rows)}\n\n`);
  for (const goal of goals) {
    out(`goal ${goal.met === null ? "UNKNOWN" : goal.met ? "met   " : "MISSED"}  ${goal.section.replace(/ \(.*|,.*/, "")}: ${goal.metric.trim()} — ${goal.goal}\n`);
  }
  for (const note of report.notes) out(`note: ${note}\n`);
  out(`\nrun took ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(1)} s; JSON: ${path}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:startup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
