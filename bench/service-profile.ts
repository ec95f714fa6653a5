// `npm run bench:profile`: where the service's CPU goes under load. The peer section's target (a
// private Postfix port, TLS 1.2, no tickets), then coordinator → NATS → one agent and the embedded
// coordinator, each under `node --cpu-prof`, each at concurrency 32 for a few seconds; then the
// profiles read back: self time by function and by file (our modules by path, node's and the
// dependencies' by package), per process. The .cpuprofile files stay in bench/results/profile-*/
// for Chrome DevTools or speedscope. BENCH_PROFILE_CONCURRENCY changes the concurrency (1: one probe
// at a time, as each of the fan-out section's agents sees its tasks).
//
// The profiler's self time is wall time on the main thread (a process the scheduler put aside in
// a syscall still counts), so each window also reads every process's CPU time from /proc and
// prints it per probe. BENCH_PROFILE_CPU=1 runs without the profiler, BENCH_PROFILE_REPEAT windows
// one after the other: CPU per probe by process, to compare a change against the noise.
import { loadavg } from "node:os";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testPki } from "../test/helpers/certs.js";
import { freePort } from "../test/helpers/free-port.js";
import { startPostfix } from "../test/helpers/postfix.js";
import { measureWindow } from "./service-measure.js";
import { cpuPerProbe, cpuSnapshot, startEmbeddedCoordinator, startStack } from "./service-stack.js";

const HOST = "127.0.0.1";
const WINDOW_MS = Number(process.env.BENCH_PROFILE_WINDOW_MS ?? 6_000);
const CONCURRENCY = Number(process.env.BENCH_PROFILE_CONCURRENCY ?? 32);
const TOP = Number(process.env.BENCH_PROFILE_TOP ?? 25);
/** BENCH_PROFILE_TARGET=refused: a port nothing listens on (no handshake: what is left is the service's own work). */
const REFUSED = process.env.BENCH_PROFILE_TARGET === "refused";
/** BENCH_PROFILE_CPU=1: no profiler, only CPU time per probe from /proc, BENCH_PROFILE_REPEAT windows. */
const CPU_ONLY = process.env.BENCH_PROFILE_CPU === "1";
const REPEAT = CPU_ONLY ? Number(process.env.BENCH_PROFILE_REPEAT ?? 3) : 1;

/** One window at CONCURRENCY: probes done, and CPU ms per probe of each group of processes. */
async function cpuWindow(label: string, run: Parameters<typeof measureWindow>[0], groups: Record<string, readonly number[]>): Promise<number> {
  const before = cpuSnapshot(groups);
  const w = await measureWindow(run, CONCURRENCY, WINDOW_MS, 100_000);
  const per = cpuPerProbe(before, cpuSnapshot(groups), w.completed);
  const cells = Object.entries(per)
    .filter(([name]) => name !== "bench" && name !== "total")
    .map(([name, ms]) => `${name} ${ms.toFixed(3)}`);
  const server = Object.entries(per).filter(([name]) => name !== "bench" && name !== "total").reduce((sum, [, ms]) => sum + ms, 0);
  const load = loadavg().map((l) => l.toFixed(2)).join(" ");
  process.stderr.write(`[profile] ${label}: ${w.perSecond.toFixed(0)} probes/s, CPU ms per probe: ${cells.join(", ")}, server side ${server.toFixed(3)}; failures ${JSON.stringify(w.failures)}; load ${load}\n`);
  return w.completed;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives, short: our path under the repo, else the package or node's module. */
function place(url: string): string {
  if (!url) return "(native/vm)";
  const path = url.replace(/^file:\/\//, "");
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `npm:${pkg[1]}`;
  if (path.startsWith("node:")) return path;
  const repo = fileURLToPath(new URL("..", import.meta.url));
  return path.startsWith(repo) ? path.slice(repo.length) : path;
}

function summarizeProfile(profile: Profile): { totalMs: number; byFunction: [string, number][]; byPlace: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const fn = new Map<string, number>();
  const where = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") continue;
    total += us;
    const p = place(url);
    const key = `${functionName || "(anonymous)"} ${p}${url ? `:${lineNumber + 1}` : ""}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    where.set(p, (where.get(p) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / 1000]);
  return { totalMs: total / 1000, byFunction: sorted(fn), byPlace: sorted(where) };
}

async function readProfiles(dir: string): Promise<Profile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), "utf8")) as Profile));
}

function print(label: string, profiles: Profile[], probes: number): void {
  for (const profile of profiles) {
    const s = summarizeProfile(profile);
    const out = (line: string): boolean => process.stdout.write(`${line}\n`);
    out(`\n== ${label}: ${s.totalMs.toFixed(0)} ms of CPU sampled (whole life), ${probes} probes in the window ==`);
    out("-- self time by file or package, ms --");
    for (const [k, ms] of s.byPlace.slice(0, TOP)) out(`${ms.toFixed(1).padStart(9)}  ${k}`);
    out("-- self time by function, ms --");
    for (const [k, ms] of s.byFunction.slice(0, TOP)) out(`${ms.toFixed(1).padStart(9)}  ${k}`);
  }
}

async function main(): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const base = fileURLToPath(new URL(`./results/profile-${stamp}/`, import.meta.url));
  const dirs = { coordinator: join(base, "coordinator"), agent: join(base, "agent"), embedded: join(base, "embedded") };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const pki = await testPki();
  const leaf = await pki.leaf({ names: ["postfix.test", "localhost", "127.0.0.1"] });
  const postfix = await startPostfix({ certPem: leaf.certPem, keyPem: leaf.keyPem, mainCf: { smtpd_tls_protocols: ">=TLSv1.2, <=TLSv1.2", tls_ssl_options: "NO_TICKET" } });
  const refusedPort = await freePort();
  const flags = { allowCidr: "127.0.0.0/8", allowPorts: [postfix.port, refusedPort] };
  const port = REFUSED ? refusedPort : postfix.port;
  const expected = REFUSED ? "refused" : "done";
  const prof = (dir: string): string[] => (CPU_ONLY ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`]);
  let natsProbes = 0;
  let embeddedProbes = 0;
  try {
    const stack = await startStack({ host: HOST, flags, startTimeoutMs: 30_000, nodeArgs: { coordinator: prof(dirs.coordinator), agent: prof(dirs.agent) } });
    try {
      const started = await stack.startAgents([{ region: "solo", agentId: "solo-1" }], 30_000);
      if (started.discovered.length === 0) throw new Error("the agent was not discovered");
      const run = (): ReturnType<typeof stack.client.probe> => stack.client.probe(["solo"], port, expected);
      await measureWindow(run, CONCURRENCY, 1_000, 100_000);
      const groups = { coordinator: [stack.coordinator.pid], nats: stack.natsPid === undefined ? [] : [stack.natsPid], agent: [...stack.agents.values()].map((a) => a.pid) };
      if (CPU_ONLY) {
        // What the processes spend with no probe at all (heartbeats, discovery), for scale.
        const before = cpuSnapshot(groups);
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        const idle = cpuPerProbe(before, cpuSnapshot(groups), 3);
        process.stderr.write(`[profile] idle, CPU ms per second: coordinator ${idle.coordinator?.toFixed(2)}, nats ${idle.nats?.toFixed(2)}, agent ${idle.agent?.toFixed(2)}\n`);
      }
      for (let i = 0; i < REPEAT; i += 1) natsProbes = await cpuWindow("via NATS", run, groups);
    } finally {
      await stack.stop();
    }
    const embedded = await startEmbeddedCoordinator(flags, HOST, 30_000, prof(dirs.embedded));
    try {
      const run = (): ReturnType<typeof embedded.client.probe> => embedded.client.probe(["local"], port, expected);
      await measureWindow(run, CONCURRENCY, 1_000, 100_000);
      for (let i = 0; i < REPEAT; i += 1) embeddedProbes = await cpuWindow("embedded", run, { embedded: [embedded.process.pid] });
    } finally {
      await embedded.stop();
    }
  } finally {
    await postfix.stop();
  }
  if (CPU_ONLY) return;
  print("coordinator (via NATS)", await readProfiles(dirs.coordinator), natsProbes);
  print("agent (via NATS)", await readProfiles(dirs.agent), natsProbes);
  print("embedded coordinator", await readProfiles(dirs.embedded), embeddedProbes);
  process.stdout.write(`\nprofiles: ${base}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("bench:profile failed:", error);
    process.exit(1);
  },
);
