// `npm run bench`: the probe service end to end — the generated gRPC client → coordinator → NATS
// → agent → engine, every piece a real process on this machine — against the engine called
// directly in this process, in one run and against one target (the smtp-server fixture in its own
// process, its 100 ms early-talker pause removed). Only 127.0.0.1 is ever contacted; every loop
// is bounded in count and time; a watchdog ends the run after WATCHDOG_MS whatever happens, and
// every child process is stopped by its own id (and SIGKILLed on any exit of this process).
//
// Sections (bench/service-sections.ts), in the order they run:
//   1. Latency, one region, one port, sequential: end to end vs the engine alone, interleaved
//      probe by probe; added ms at p50 and p99, where the added time goes, and what a bare gRPC
//      call and a bare NATS round trip cost on this machine meanwhile.
//   3. Throughput at concurrency 64, one region: one agent, then two; errors and non-DONE tasks.
//      (Before the fan-out agents exist, so that 20 idle processes do not share the CPUs.)
//   2. Fan-out: one probe to 20 regions (20 agent processes, one per region) vs one region,
//      interleaved; with the experiments that split coordination from CPU contention.
//   4. RSS of the coordinator and the agents, idle and after the runs.
import { cpus, loadavg } from "node:os";
import { freePort } from "../test/helpers/free-port.js";
import { withTimeout } from "../test/helpers/wait.js";
import { commandOutput, machineEnvironment, sectionOf } from "./report.js";
import { directEngine } from "./service-client.js";
import { judgeRow, renderServiceTable, writeServiceJson } from "./service-report.js";
import {
  fanOutSection,
  idleMemory,
  latencySection,
  memorySection,
  PLAN,
  SOLO,
  SOLO_AGENT,
  throughputSection,
  TPUT,
  TPUT_AGENTS,
  type BenchContext,
  type BenchReport,
  type FanOut,
} from "./service-sections.js";
import { startEmbeddedCoordinator, startStack } from "./service-stack.js";
import { blackboxUnavailable, startBlackbox } from "./blackbox.js";
import { peerSection } from "./service-peer.js";
import { heading } from "./service-report.js";
import { postfixAvailable, startPostfix, type PostfixInstance } from "../test/helpers/postfix.js";
import { testPki } from "../test/helpers/certs.js";
import { startTargetProcess } from "./targets.js";

/** The run is planned to end by RUN_BUDGET_MS; the watchdog stops it at WATCHDOG_MS regardless. */
const RUN_BUDGET_MS = 230_000;
const WATCHDOG_MS = 270_000;
const HOST = "127.0.0.1";
const ALLOW_CIDR = "127.0.0.0/8";

/** BENCH_SERVICE_SECTIONS=peer,latency (say) runs only those sections: to try one while working on it. */
const SECTIONS = new Set((process.env.BENCH_SERVICE_SECTIONS ?? "peer,latency,throughput,fanout").split(",").map((x) => x.trim()));

/** Postfix's TLS for the peer section: TLS 1.2 only, no session tickets (bench/README.md). */
const POSTFIX_TLS12_NO_TICKETS = { smtpd_tls_protocols: ">=TLSv1.2, <=TLSv1.2", tls_ssl_options: "NO_TICKET" };

const log = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`);
};

function environment(): Record<string, unknown> {
  return { ...machineEnvironment(["agents", "services", "lib", "gen"]), natsServer: commandOutput("nats-server", ["--version"]) };
}

/** Prints the table, the goals and the notes, and writes the JSON: also for a run cut short. */
async function output(report: BenchReport, startedAt: Date, loadBefore: number[], stoppedBy: string | undefined): Promise<void> {
  const { rows, notes, data } = report;
  const finishedAt = new Date();
  const loadAfter = loadavg();
  const table = rows.filter((row) => !row.section).map(judgeRow);
  const goals = rows.filter((row) => row.goal && !row.section).map((row) => ({ section: sectionOf(rows, row), ...judgeRow(row) }));
  Object.assign(data, {
    loadAverageAfter: loadAfter,
    finishedAt: finishedAt.toISOString(),
    durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    stoppedBy: stoppedBy ?? null,
    table,
    goals,
    notes,
  });
  const path = await writeServiceJson(startedAt, data);

  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(" ");
  const out = (text: string): boolean => process.stdout.write(text);
  out("\nsmtp-probe service bench — end to end = gRPC client → coordinator → NATS → agent → engine, each its own process,\n");
  out("against the smtp-server fixture in its own process (early-talker pause removed); added = value − baseline, ratio = value ÷ baseline\n");
  out(`${cpus().length} CPUs; load average ${load(loadBefore)} at the start, ${load(loadAfter)} at the end`);
  out(loadBefore[0] !== undefined && loadBefore[0] > cpus().length / 2 ? " (other work on the machine: expect noise)\n" : "\n");
  if (stoppedBy) out(`RUN CUT SHORT (${stoppedBy}): the table holds the sections that finished\n`);
  out(`\n${renderServiceTable(rows)}\n\n`);
  for (const goal of goals) {
    out(`goal ${goal.met === null ? "UNKNOWN" : goal.met ? "met   " : "MISSED"}  ${goal.section.replace(/[:,].*/, "")}: ${goal.metric.trim()} — ${goal.goal}\n`);
  }
  for (const note of notes) out(`note: ${note}\n`);
  out(`\nrun took ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(1)} s; JSON: ${path}\n`);
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const runDeadline = performance.now() + RUN_BUDGET_MS;
  const loadBefore = loadavg();
  const report: BenchReport = { rows: [], notes: [], data: { startedAt: startedAt.toISOString(), environment: environment(), plan: PLAN, loadAverageBefore: loadBefore } };
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch((error: unknown) => log(`stop failed: ${String(error)}`));
  };
  let abandoned = false;
  const abandon = (reason: string, code: number): void => {
    // Idempotent: tsx relays a Ctrl-C to this process a second time when this process did not
    // acknowledge the first within 30 ms, which happens on a loaded machine.
    if (abandoned) return;
    abandoned = true;
    // What finished so far; the section running now would go on to record the shutdown as failures.
    const finished: BenchReport = { rows: report.rows.slice(), notes: report.notes.slice(), data: { ...report.data } };
    log(`${reason}: stopping every process`);
    setTimeout(() => process.exit(code), 40_000).unref(); // whatever hangs below
    void withTimeout(stopAll(), 20_000, "stopping processes")
      .catch(() => undefined)
      .then(() => output(finished, startedAt, loadBefore, reason))
      .finally(() => process.exit(code));
  };
  const watchdog = setTimeout(() => abandon(`watchdog: the run exceeded ${WATCHDOG_MS / 1000} s`, 2), WATCHDOG_MS);
  process.on("SIGINT", () => abandon("interrupted (SIGINT)", 130));
  process.on("SIGTERM", () => abandon("terminated (SIGTERM)", 143));

  let failure: unknown;
  try {
    log("starting the smtp-server fixture process (early-talker pause off)");
    const target = await startTargetProcess({ earlyTalkerPause: false, silent: false });
    stoppers.push(() => target.stop());
    // A port nothing listens on: a probe there is refused at once (the fan-out experiment).
    const refusedPort = await freePort();
    // The peer section's target: Postfix with TLS 1.2 only and no session tickets (bench/README.md
    // says why), for blackbox_exporter and smtp-probe alike.
    const peerUnavailable = (await postfixAvailable()) ?? blackboxUnavailable();
    let postfix: PostfixInstance | undefined;
    let caPem = "";
    if (peerUnavailable === undefined) {
      log("starting a private Postfix (TLS 1.2 only, no session tickets)");
      const pki = await testPki();
      const leaf = await pki.leaf({ names: ["postfix.test", "localhost", "127.0.0.1"] });
      caPem = pki.ca.certPem;
      const started = await startPostfix({ certPem: leaf.certPem, keyPem: leaf.keyPem, mainCf: POSTFIX_TLS12_NO_TICKETS });
      postfix = started;
      stoppers.push(() => started.stop());
    }
    const allowPorts = [target.smtpPort, refusedPort, ...(postfix ? [postfix.port] : [])];
    log(`starting nats-server and the coordinator (target 127.0.0.1:${target.smtpPort})`);
    const stack = await startStack({ host: HOST, flags: { allowCidr: ALLOW_CIDR, allowPorts }, startTimeoutMs: PLAN.startTimeoutMs });
    stoppers.push(() => stack.stop());
    const first = [{ region: SOLO, agentId: SOLO_AGENT }, ...TPUT_AGENTS.map((agentId) => ({ region: TPUT, agentId }))];
    const started = await stack.startAgents(first, PLAN.startTimeoutMs);
    if (started.discovered.length < first.length) throw new Error(`only ${started.discovered.join(", ") || "no agent"} discovered within ${PLAN.startTimeoutMs} ms`);
    log(`${first.length} agents discovered after ${(started.ms / 1000).toFixed(1)} s`);
    report.data.firstAgentsStartMs = started.ms;
    const idle = idleMemory(stack);

    const ctx: BenchContext = {
      stack,
      target,
      port: target.smtpPort,
      refusedPort,
      direct: directEngine(HOST, { cidr: ALLOW_CIDR, ports: allowPorts }),
      embeddedFlags: { allowCidr: ALLOW_CIDR, allowPorts },
      report,
      runDeadline,
      log,
    };
    if (!SECTIONS.has("peer")) {
      // not asked for
    } else if (postfix) {
      const blackbox = await startBlackbox(caPem);
      const embedded = await startEmbeddedCoordinator(ctx.embeddedFlags);
      try {
        await peerSection(ctx, { host: HOST, port: postfix.port, blackbox, embedded: { client: embedded.client, pid: embedded.process.pid } });
      } finally {
        await embedded.stop();
        await blackbox.stop();
      }
    } else {
      report.rows.push(heading(`0. Peer (blackbox_exporter on Postfix): skipped (${peerUnavailable})`));
    }
    if (SECTIONS.has("latency")) await latencySection(ctx);
    if (SECTIONS.has("throughput")) await throughputSection(ctx);
    let fan: FanOut | undefined;
    try {
      if (SECTIONS.has("fanout")) fan = await fanOutSection(ctx);
    } finally {
      memorySection(ctx, idle, fan);
      for (const [label, proc] of [["coordinator", stack.coordinator] as const, ...[...stack.agents.entries()].map(([id, p]) => [`agent ${id}`, p] as const)]) {
        const logged = proc.stderr().trim();
        if (logged) report.notes.push(`${label} logged (warn and above), last lines:\n${logged.split("\n").slice(-3).join("\n")}`);
      }
    }
  } catch (error) {
    failure = error;
    if (!abandoned) log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    if (!abandoned) {
      log("stopping every process");
      await stopAll();
      clearTimeout(watchdog);
    }
  }
  // An abandoned run (watchdog, signal) prints from abandon(), then exits.
  if (abandoned) return new Promise<void>(() => undefined);
  const reason = failure === undefined ? undefined : `error: ${failure instanceof Error ? failure.message.split("\n")[0] : String(failure)}`;
  await output(report, startedAt, loadBefore, reason);
  if (failure !== undefined) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error("bench failed:", error);
    process.exit(1);
  },
);
