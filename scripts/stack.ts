// `npm run stack`: a whole distributed stack on this machine — nats-server (JetStream) from PATH,
// a coordinator on 127.0.0.1:50051 and three agents in regions us-east, eu-west and ap-south.
// Ctrl-C stops everything. Extra arguments go to every agent (e.g. --allow-cidr 127.0.0.0/8); the
// target-policy flags among them (--allow-cidr, --allow-ports, --deny-list) go to the coordinator
// too, because it checks IP literals and ports against its own policy before any agent sees them.
// It runs compiled (dist/scripts/stack.js, tsconfig.build.json), like the processes it starts.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POLICY_SETTINGS } from "../lib/common-settings.js";
import { packagePath } from "../lib/package-root.js";
import { UNTHROTTLED_ARGS } from "../services/coordinator/throttle-settings.js";

const NATS_PORT = Number(process.env.SMTP_PROBE_STACK_NATS_PORT ?? 4223);
const LISTEN = process.env.SMTP_PROBE_LISTEN ?? "127.0.0.1:50051";
const REGIONS = ["us-east", "eu-west", "ap-south"];
const extra = process.argv.slice(2);
const policyArgs = policyFlags(extra);

/** The target-policy flags in args, with their values (`--flag value` or `--flag=value`). */
function policyFlags(args: readonly string[]): string[] {
  const flags = new Set<string>(Object.values(POLICY_SETTINGS).map((s) => s.flag));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (flags.has(arg)) {
      out.push(arg, ...args.slice(i + 1, i + 2));
      i++;
    } else if (flags.has(arg.split("=")[0] ?? "")) out.push(arg);
  }
  return out;
}

if (spawnSync("nats-server", ["--version"], { stdio: "ignore" }).error) {
  console.error("npm run stack needs nats-server on the PATH: apt-get install nats-server (Debian), or see https://docs.nats.io/running-a-nats-service/introduction/installation");
  process.exit(1);
}

const children: ChildProcess[] = [];
const store = mkdtempSync(join(tmpdir(), "smtp-probe-stack-"));
const bin = packagePath("bin/smtp-probe.js");

function run(name: string, command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
  child.on("exit", (code, signal) => {
    if (!stopping) console.error(`[stack] ${name} exited (${signal ?? code})`);
  });
  children.push(child);
  return child;
}

async function waitForPort(port: number, host = "127.0.0.1"): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error("[stack] stopping");
  for (const child of children.slice(1).reverse()) child.kill("SIGTERM");
  await Promise.all(children.slice(1).map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
  children[0]?.kill("SIGTERM");
  rmSync(store, { recursive: true, force: true });
}
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());

run("nats-server", "nats-server", ["-a", "127.0.0.1", "-p", String(NATS_PORT), "-js", "-sd", store]);
await waitForPort(NATS_PORT);
const nats = `nats://127.0.0.1:${NATS_PORT}`;
for (const region of REGIONS) run(`agent ${region}`, process.execPath, [bin, "agent", "--region", region, "--nats", nats, ...extra]);
// Everything probes one machine here: the per-destination throttle would only slow the demo.
run("coordinator", process.execPath, [bin, "coordinator", "--listen", LISTEN, "--nats", nats, ...UNTHROTTLED_ARGS, ...policyArgs]);
console.error(`[stack] nats ${nats}, coordinator ${LISTEN}, agents in ${REGIONS.join(", ")}; Ctrl-C stops`);
