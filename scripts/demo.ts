// `npm run demo` (Linux, root): what the service is for — port 25 blocked from one region — on one
// machine. Regions are network namespaces of a lab (scripts/lab/lab-network.ts: a bridge with
// 198.19.x.0/24, inside the benchmarking range 198.18.0.0/15, never on the internet), each with
// its own path to one target:
//
//   us-east   .11  nothing in the way
//   eu-west   .12  nft: SYNs to the target's port 25 dropped      → port 25 blocked from eu-west
//   ap-south  .13  nft: its own outbound port 25 dropped, to anywhere: its canary fails too
//                  → AGENT_EGRESS_BLOCKED, never counted against the target
//   sa-east   .14  nft DNAT: the target's port 587 goes through a STARTTLS-stripping middlebox
//                  → STARTTLS differs on 587
//   target    .100 smtp-server with STARTTLS on 25 and 587 (certificate from a CA made here, which
//                  the agents trust); .103:587 the stripping middlebox
//   canary    .101 smtp-server on 25: every agent's egress canary
//
// nats-server and the coordinator run in this namespace (NATS on the bridge's address, the gRPC API
// on a free port of 127.0.0.1), one agent per region inside its namespace (`ip netns exec`). The
// target is probed on 25 and 587 through the coordinator, and the CLI's own output is printed: the
// regions and their egress, then the matrix and the verdicts. Everything is removed on exit and on
// Ctrl-C (processes, namespaces with their nft rules, veths, the bridge, the CA file). The run is
// bounded: 30 s (SMTP_PROBE_DEMO_TIMEOUT, in seconds, for a slow machine); it takes about 15 s.
//
// Without root, ip, nft or nats-server it says what it needs and exits 69 (cli/exit-codes.ts).
// It runs compiled (dist/scripts/demo.js), like the processes it starts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../cli/exit-codes.js";
import { packagePath } from "../lib/package-root.js";
import { UNTHROTTLED_ARGS } from "../services/coordinator/throttle-settings.js";
import { describeExit, startChild } from "./child-process.js";
import { coordinatorReadiness } from "./coordinator-readiness.js";
import { labCertificates } from "./lab/lab-certificates.js";
import { createLab, egressRules, type EgressRule, type Lab, type LabHost, type LabProcess } from "./lab/lab-network.js";
import { netnsAvailable } from "./lab/netns-support.js";
import type { TargetConfig } from "./lab/smtp-target.js";

/** The whole run, set-up to clean-up, by default; beyond it the demo gives up (and still cleans up). */
const RUN_BOUND_S = 30;
/** The lab subnet tried first (198.19.<x>.0/24): away from the tests', which start at 0. */
const LAB_SUBNET = 128;
const TARGET_HOST = 100;
const CANARY_HOST = 101;
const STRIPPER_HOST = 103;
const PORTS = [25, 587];
/** The probe's deadline (seconds): a dropped SYN ends there, everything else within milliseconds. */
const PROBE_TIMEOUT_S = 4;
const ALLOW = ["--allow-cidr", "198.18.0.0/15", "--allow-ports", PORTS.join(",")];

interface DemoRegion {
  name: string;
  host: number;
  /** What is in the way, in words. */
  path: string;
  rules: (target: string, stripper: string) => EgressRule[];
}

const REGIONS: readonly DemoRegion[] = [
  { name: "us-east", host: 11, path: "nothing in the way", rules: () => [] },
  { name: "eu-west", host: 12, path: "its network drops SYNs to the target's port 25", rules: (target) => [{ action: "drop", to: target, port: 25 }] },
  { name: "ap-south", host: 13, path: "its own outbound port 25 is blocked, to anywhere (its canary fails too)", rules: () => [{ action: "drop", port: 25 }] },
  {
    name: "sa-east",
    host: 14,
    path: "a middlebox on its path to port 587 strips STARTTLS",
    rules: (target, stripper) => [{ action: "redirect", to: target, port: 587, via: `${stripper}:587` }],
  },
];

function say(text: string): void {
  process.stderr.write(`[demo] ${text}\n`);
}

/** Why the demo cannot run here, or undefined. */
async function missingRequirement(): Promise<string | undefined> {
  const netns = await netnsAvailable();
  if (netns !== undefined) return `${netns}: run it as root on Linux with iproute2 and nftables (sudo npm run demo)`;
  if (spawnSync("nats-server", ["--version"], { stdio: "ignore" }).error) return "nats-server is not on the PATH: apt-get install nats-server (Debian, Ubuntu)";
  return undefined;
}

/** A port nothing listens on at `host` now. */
function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs the CLI to its end (bounded), its stdout and stderr passed through; resolves with its exit code. */
async function runCli(args: string[], timeoutMs: number): Promise<number | null> {
  const cli = startChild("smtp-probe", process.execPath, [packagePath("bin/smtp-probe.js"), ...args], {
    onLine: (line, stream) => (stream === "stdout" ? process.stdout : process.stderr).write(`${line}\n`),
  });
  const timer = setTimeout(() => void cli.kill(), timeoutMs);
  const exit = await cli.exited;
  clearTimeout(timer);
  return exit.code;
}

async function main(): Promise<void> {
  const missing = await missingRequirement();
  if (missing !== undefined) {
    say(`cannot run: ${missing}`);
    process.exit(ExitCode.environment);
  }
  const boundS = Number(process.env.SMTP_PROBE_DEMO_TIMEOUT || RUN_BOUND_S);
  if (!(boundS > 0 && boundS <= 600)) {
    say(`SMTP_PROBE_DEMO_TIMEOUT: "${process.env.SMTP_PROBE_DEMO_TIMEOUT}" is not a number of seconds (0-600)`);
    process.exit(ExitCode.usage);
  }
  const started = performance.now();
  /** What is left of the bound: every wait gets at most this. */
  const remainingMs = (): number => Math.max(0, started + boundS * 1000 - performance.now());
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  let lab: Lab | undefined;
  const files = mkdtempSync(join(tmpdir(), "smtp-probe-demo-"));
  let cleaning: Promise<void> | undefined;
  const cleanUp = (): Promise<void> =>
    (cleaning ??= (async () => {
      await lab?.stop(); // processes, namespaces (their nft rules with them), veths, bridge
      rmSync(files, { recursive: true, force: true });
      say("cleaned up: processes, namespaces and their nft rules, the bridge");
    })());
  const end = async (code: number): Promise<never> => {
    await cleanUp();
    process.exit(code);
  };
  process.on("SIGINT", () => void end(ExitCode.interrupted));
  process.on("SIGTERM", () => void end(ExitCode.interrupted));
  setTimeout(() => {
    say(`did not finish within ${boundS} s; giving up (SMTP_PROBE_DEMO_TIMEOUT gives a slow machine more)`);
    void end(ExitCode.environment);
  }, boundS * 1000).unref();

  try {
    lab = await createLab({ subnet: LAB_SUBNET });
    const target = lab.address(TARGET_HOST);
    const canary = lab.address(CANARY_HOST);
    const stripper = lab.address(STRIPPER_HOST);
    say(`building ${REGIONS.length} regions as network namespaces on ${lab.bridge} (198.19.${lab.subnet}.0/24); the target is ${target}`);
    const [[targetHost, canaryHost, ...regionHosts], certificates, natsPort] = await Promise.all([
      Promise.all([lab.addHost("target", TARGET_HOST, { extra: [STRIPPER_HOST] }), lab.addHost("canary", CANARY_HOST), ...REGIONS.map((r) => lab!.addHost(r.name, r.host))]),
      labCertificates([["target.lab.test", target], ["canary.lab.test", canary]]),
      freePortOn(lab.gateway),
    ]);
    await Promise.all(REGIONS.map((region, i) => (regionHosts[i] as LabHost).nft(egressRules(region.rules(target, stripper)))));
    const caFile = join(files, "lab-ca.pem");
    writeFileSync(caFile, certificates.ca.certPem);

    const smtpTarget = (host: LabHost, config: TargetConfig): LabProcess =>
      host.spawn(`smtp ${host.name}`, process.execPath, [packagePath("dist/scripts/lab/smtp-target.js"), JSON.stringify(config)], { lifeline: true });
    const [targetCert, canaryCert] = certificates.leaves as [TargetConfig["tls"], TargetConfig["tls"]];
    const servers = [
      smtpTarget(targetHost as LabHost, { name: "target.lab.test", listen: [`${target}:25`, `${target}:587`], tls: targetCert, strip: [{ listen: `${stripper}:587`, upstream: `${target}:587` }] }),
      smtpTarget(canaryHost as LabHost, { name: "canary.lab.test", listen: [`${canary}:25`], tls: canaryCert }),
    ];

    const natsUrl = `nats://${lab.gateway}:${natsPort}`;
    const natsServer = lab.spawn("nats-server", "nats-server", ["-a", lab.gateway, "-p", String(natsPort)]);
    const listen = `127.0.0.1:${await freePortOn("127.0.0.1")}`;
    const bin = packagePath("bin/smtp-probe.js");
    const quiet = ["--log-level", process.env.LOG_LEVEL || "warn"];
    const coordinator = lab.spawn("coordinator", process.execPath, [bin, "coordinator", "--listen", listen, "--http-listen", "off", "--nats", natsUrl, ...ALLOW, ...UNTHROTTLED_ARGS, ...quiet]);
    const agents = REGIONS.map((region, i) =>
      (regionHosts[i] as LabHost).spawn(`agent ${region.name}`, process.execPath, [
        bin,
        "agent",
        ...["--region", region.name, "--agent-id", `${region.name}-1`, "--nats", natsUrl, ...ALLOW, "--ca-file", caFile],
        ...["--canary", `${canary}:25`, "--canary-interval", "2s", "--canary-timeout", "2s", "--grace", "1s", ...quiet],
      ]),
    );
    const processes = [...servers, natsServer, coordinator, ...agents];

    await Promise.all(servers.map((server) => server.waitForOutput(/^READY$/m, remainingMs())));
    // Ready: health SERVING and every region's agent listed with its first canary round on port 25
    // done (ap-south's waits out its canary timeout), so that the egress verdict has what it needs.
    const readiness = coordinatorReadiness(listen);
    try {
      let why = "not checked yet";
      for (;;) {
        const gone = processes.find((p) => !p.running());
        if (gone) throw new Error(`${gone.name} exited (${describeExit(await gone.exited)}); its last lines:\n${gone.stderrTail(8).join("\n")}`);
        const problem = await readiness.check(
          REGIONS.map((r) => r.name),
          (agent) => agent.egress.some((e) => e.port === 25),
        );
        if (problem === undefined) break;
        why = problem;
        if (remainingMs() === 0) throw new Error(`the lab was not ready within ${boundS} s: ${why}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      readiness.close();
    }
    say(`lab ready after ${elapsed()}. The regions, and what is on each one's path to ${target}:`);
    for (const region of REGIONS) say(`  ${region.name.padEnd(9)} ${region.path}`);
    say(`smtp-probe regions --coordinator ${listen}`);
    await runCli(["regions", "--coordinator", listen], remainingMs());
    say(`smtp-probe check ${target} --port ${PORTS.join(",")} --coordinator ${listen} --timeout ${PROBE_TIMEOUT_S}`);
    const code = await runCli(["check", target, "--port", PORTS.join(","), "--coordinator", listen, "--timeout", String(PROBE_TIMEOUT_S)], remainingMs());
    say(`check exited ${code} (3: some port is blocked from some region); the demo took ${elapsed()}`);
  } catch (error) {
    // Stopped meanwhile (Ctrl-C, the bound): its processes are gone because they were stopped.
    if (cleaning) return void (await cleaning);
    say(`failed: ${error instanceof Error ? error.message : String(error)}`);
    await end(ExitCode.environment);
  }
  await end(ExitCode.ok);
}

await main();
