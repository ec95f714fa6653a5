// `npm run bench`, TLS-scan section (also `npx tsx bench/tls-scan.ts`): the full TLS profile of one
// port — the engine's scan (probeTarget with tls_scan) against testssl.sh's run of the same
// checks (-p protocols, -E suites per protocol, --starttls smtp) on the same port, in the same
// run: connections opened and wall time. The scan's connections go through the coordinator's own
// DestinationThrottle at its default limits (4 open, 60 a minute per address), so every one is
// within the destination limits or the run says which was not. Only 127.0.0.1 is contacted; a
// watchdog ends the run after WATCHDOG_MS; the target is a child process stopped by its id.
import { fork, type ChildProcess } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { ProbeOptions, TlsScanStatus, type TlsProfile } from "../gen/smtpprobe/v1/handshake.js";
import { resolveOptions } from "../agents/smtp/options.js";
import { probeTarget, type ConnectGate } from "../agents/smtp/probe-target.js";
import { SCAN_BOUNDS } from "../agents/smtp/tls-scan/run-tls-scan.js";
import { DestinationThrottle } from "../services/coordinator/destination-throttle.js";
import { runTestssl, testsslAvailable } from "../test/helpers/testssl.js";
import { withTimeout } from "../test/helpers/wait.js";
import { layoutTable, machineEnvironment, writeJson } from "./report.js";
import { summarize } from "./stats.js";
import type { TlsScanTargetMessage, TlsScanTargetRequest } from "./tls-scan-target.js";

const WATCHDOG_MS = 15 * 60_000;
const SCAN_RUNS = 7;
/** The coordinator's defaults (services/coordinator/throttle-settings.ts). */
const THROTTLE = { addressConcurrent: 4, addressPerMinute: 60, networkConcurrent: 16, networkPerMinute: 240 };
const GOAL_RATIO = 0.1;

const log = (message: string): void => void process.stderr.write(`[bench:tls-scan] ${message}\n`);

interface ScanRun {
  wallMs: number;
  connections: number;
  serverConnections: number;
  peakOpen: number;
  denied: string[];
  status: string;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const watchdog = setTimeout(() => {
    log(`watchdog: still running after ${WATCHDOG_MS / 1000} s, stopping`);
    process.exit(3);
  }, WATCHDOG_MS);
  watchdog.unref();
  const target = await startTarget();
  try {
    log(`target on 127.0.0.1:${target.port}; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} on ${cpus().length} CPUs`);
    const options = resolveOptions(ProbeOptions.fromPartial({ tlsScan: true, portRole: 2, timeouts: { deadlineMs: 120_000 } }), target.port, "bench.test");
    const runs: ScanRun[] = [];
    let profile: TlsProfile | undefined;
    for (let i = 0; i < SCAN_RUNS; i++) {
      // A fresh throttle per run, as if minutes apart: its per-minute window would otherwise carry over.
      const throttle = new DestinationThrottle(THROTTLE);
      let open = 0;
      let peakOpen = 0;
      const denied: string[] = [];
      const gate: ConnectGate = async (address, _port, { signal, deadlineAt }) => {
        const answer = await throttle.acquire(address, deadlineAt, signal);
        if (!answer.granted) {
          denied.push(answer.reason);
          return { denied: answer.reason };
        }
        peakOpen = Math.max(peakOpen, ++open);
        return {
          release: () => {
            open -= 1;
            throttle.release(answer.leaseId);
          },
        };
      };
      await target.reset();
      const began = performance.now();
      const result = await probeTarget({ host: "127.0.0.1", port: target.port }, options, { gate });
      const wallMs = performance.now() - began;
      const counts = await target.counts();
      const handshake = result.handshakes[0]!;
      profile = handshake.tlsProfile;
      runs.push({
        wallMs,
        connections: (profile?.connections ?? 0) + 1,
        serverConnections: counts.connections,
        peakOpen,
        denied,
        status: TlsScanStatus[profile?.status ?? 0] ?? "?",
      });
      log(`scan ${i + 1}/${SCAN_RUNS}: ${wallMs.toFixed(0)} ms, ${counts.connections} connections, ${runs.at(-1)!.status}`);
    }
    let testssl: { wallMs: number; scanTimeS: number; connections: number } | { skipped: string };
    const missing = await testsslAvailable();
    if (missing) {
      testssl = { skipped: missing };
      log(`testssl skipped: ${missing}`);
    } else {
      await target.reset();
      log("testssl.sh -p -E --starttls smtp (minutes on a busy machine)");
      const ref = await runTestssl(target.port, { starttls: true, timeoutMs: WATCHDOG_MS - 60_000 });
      const counts = await target.counts();
      testssl = { wallMs: ref.wallMs, scanTimeS: ref.scanTimeS, connections: counts.connections };
    }
    const wall = summarize(runs.map((r) => r.wallMs));
    const ratio = "wallMs" in testssl ? wall.p50 / testssl.wallMs : undefined;
    const within = runs.every((r) => r.denied.length === 0 && r.peakOpen <= THROTTLE.addressConcurrent && r.serverConnections <= THROTTLE.addressPerMinute);
    const fmt = (n: number | undefined, digits = 0): string => (n === undefined || !Number.isFinite(n) ? "" : n.toFixed(digits));
    const table = layoutTable(
      ["metric", "scan", "testssl.sh", "ratio", "goal"],
      [
        `full TLS profile of one STARTTLS port, ${SCAN_RUNS} scans, 1 testssl.sh run (-p -E), same target`,
        ["wall time p50, ms", fmt(wall.p50), "wallMs" in testssl ? fmt(testssl.wallMs) : "skipped", fmt(ratio, 3), `≤ ${GOAL_RATIO}× ${ratio === undefined ? "?" : ratio <= GOAL_RATIO ? "met" : "MISSED"}`],
        ["wall time max, ms", fmt(wall.max), "", "", ""],
        ["connections (with the handshake's)", fmt(runs[0]?.serverConnections), "connections" in testssl ? fmt(testssl.connections) : "", "", `≤ ${SCAN_BOUNDS.maxConnections + 1}`],
        ["most open at once (throttle: 4)", fmt(Math.max(...runs.map((r) => r.peakOpen))), "", "", `within limits: ${within ? "yes" : "NO"}`],
        ["scans complete", `${runs.filter((r) => r.status === "TLS_SCAN_STATUS_COMPLETE").length} of ${runs.length}`, "", "", ""],
      ],
    );
    process.stdout.write(`${table}\n`);
    const path = await writeJson(
      startedAt,
      { startedAt, environment: { ...machineEnvironment(["agents", "bench"]), loadAverage: loadavg() }, throttle: THROTTLE, runs, wall, testssl, ratio, within, profile: profile && { status: profile.status, reason: profile.reason, connections: profile.connections } },
      "tls-scan",
    );
    log(`written ${path}`);
  } finally {
    await target.stop();
    clearTimeout(watchdog);
  }
}

interface Target {
  port: number;
  reset(): Promise<void>;
  counts(): Promise<{ connections: number; peak: number }>;
  stop(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  const child: ChildProcess = fork(fileURLToPath(new URL("./tls-scan-target.ts", import.meta.url)), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const onExit = (): void => void child.kill("SIGKILL");
  process.once("exit", onExit);
  const next = <T extends TlsScanTargetMessage["type"]>(type: T): Promise<Extract<TlsScanTargetMessage, { type: T }>> =>
    withTimeout(
      new Promise((resolve) => {
        const on = (message: TlsScanTargetMessage): void => {
          if (message.type !== type) return;
          child.off("message", on);
          resolve(message as Extract<TlsScanTargetMessage, { type: T }>);
        };
        child.on("message", on);
      }),
      30_000,
      `TLS-scan target "${type}"`,
    );
  const send = (request: TlsScanTargetRequest): void => void (child.connected && child.send(request));
  const { port } = await next("ready");
  return {
    port,
    async reset() {
      send({ type: "reset" });
      // The reset and the next request are handled in order: a counts round trip waits for it.
      const reply = next("counts");
      send({ type: "counts" });
      await reply;
    },
    async counts() {
      const reply = next("counts");
      send({ type: "counts" });
      const { connections, peak } = await reply;
      return { connections, peak };
    },
    async stop() {
      send({ type: "stop" });
      await withTimeout(new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once("exit", resolve))), 5_000, "TLS-scan target exit").catch(() => child.kill("SIGKILL"));
      process.off("exit", onExit);
    },
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
