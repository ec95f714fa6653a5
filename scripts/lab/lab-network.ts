// A lab network of regions on one machine (root only), for `npm run demo` and the end-to-end tests
// of the regional comparison. One Linux bridge in
// the host's namespace holds 198.19.<x>.1/24; each lab "host" is a network namespace joined to the
// bridge by a veth pair, with 198.19.<x>.<n>/24 (and more addresses of that /24 when asked).
// 198.18.0.0/15 is the benchmarking range (RFC 2544), never on the internet; test/helpers/netns.ts
// uses 198.18.64-254.x, the lab 198.19.x.0/24 (x = 0 unless another lab holds it; `npm run demo`
// starts looking at another x, so that it and a test run do not compete). Namespaces have no
// default route: a lab host reaches the bridge's /24 and nothing else.
//
// Names start with `splab<x>`: bridge splab<x>br, namespaces splab<x>-<name>, veths
// splab<x>h<n> (host side) and splab<x>n<n> (namespace side). The bridge is the lock on <x>:
// `ip link add` fails when it exists. Its alias records the owner's pid, so a lab left behind by
// a process that was killed is recognised (owner gone) and removed before <x> is reused.
// Processes started through the lab are killed with it: by stop(), by a process "exit" handler,
// and, where util-linux's setpriv is there, by the kernel when the owning process dies by a signal.
// nft rules live inside the namespaces and go with them.
//
//   const lab = await createLab();
//   const east = await lab.addHost("us-east", 11);        // splab0-us-east, 198.19.0.11
//   await east.nft(egressRules([{ action: "drop", to: lab.address(100), port: 25 }]));
//   const agent = east.spawn("agent us-east", process.execPath, [BIN, "agent", ...]);
//   await lab.stop();   // processes, namespaces, veths, bridge; also on process exit
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { startChild, type Child } from "../child-process.js";

const execFileAsync = promisify(execFile);

const PREFIX = "splab";

export interface LabOptions {
  /** The third octet tried first (198.19.<x>.0/24); default 0. The next ones are tried when taken. */
  subnet?: number;
}

export interface Lab {
  /** x of 198.19.x.0/24. */
  readonly subnet: number;
  readonly bridge: string;
  /** 198.19.x.1: the host namespace's address on the bridge (servers the lab hosts reach). */
  readonly gateway: string;
  /** 198.19.x.<n>. */
  address(n: number): string;
  /** A namespace on the bridge with 198.19.x.<n>/24, plus 198.19.x.<m>/24 for each of `extra`. */
  addHost(name: string, n: number, options?: { extra?: number[] }): Promise<LabHost>;
  /** A process in the host's own namespace, stopped with the lab. */
  spawn(name: string, command: string, args: string[], options?: SpawnOptions): LabProcess;
  /** Stops every process, removes every namespace, veth and the bridge. Idempotent. */
  stop(): Promise<void>;
}

export interface LabHost {
  /** "us-east". */
  readonly name: string;
  /** "splab0-us-east". */
  readonly namespace: string;
  /** 198.19.x.<n>. */
  readonly address: string;
  /** The address, then the extra ones. */
  readonly addresses: readonly string[];
  /** Loads an nft ruleset (nft -f) inside the namespace. */
  nft(ruleset: string): Promise<void>;
  /** Runs a command inside the namespace and returns its stdout. */
  exec(command: string, args: string[]): Promise<string>;
  /** Starts a process inside the namespace (ip netns exec), stopped with the lab. */
  spawn(name: string, command: string, args: string[], options?: SpawnOptions): LabProcess;
}

export interface SpawnOptions {
  /** Added to the environment (SMTP_PROBE_* of this process's own environment are not passed on). */
  env?: Record<string, string>;
  /** Keep the child's stdin open as a pipe: a child that exits on EOF dies with this process. */
  lifeline?: boolean;
  /** Working directory; default this process's. */
  cwd?: string;
  /** Each line the process writes; default: shown on stderr as `[name] line` when LOG_LEVEL is set. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/** A process of the lab (scripts/child-process.ts). */
export type LabProcess = Child;

/** An egress rule of a lab host, in its output hook. `to` undefined: any address. */
export type EgressRule =
  | { action: "drop"; to?: string; port: number }
  | { action: "reset"; to?: string; port: number }
  /** Connections to to:port go to via (HOST:PORT) instead: a middlebox on the path. */
  | { action: "redirect"; to: string; port: number; via: string };

/**
 * An nft ruleset for a lab host's own outbound connections: drops (the SYN vanishes: connect
 * times out), TCP resets (ECONNREFUSED at once) and redirections (DNAT in the nat output chain).
 */
export function egressRules(rules: readonly EgressRule[]): string {
  const match = (r: EgressRule): string => `${r.to ? `ip daddr ${r.to} ` : ""}tcp dport ${r.port}`;
  const filter = rules.flatMap((r) => (r.action === "drop" ? [`${match(r)} drop`] : r.action === "reset" ? [`${match(r)} reject with tcp reset`] : []));
  const nat = rules.flatMap((r) => (r.action === "redirect" ? [`${match(r)} dnat to ${r.via}`] : []));
  const table = (family: string, name: string, type: string, priority: number, lines: string[]): string[] =>
    lines.length === 0
      ? []
      : [`table ${family} ${name} {`, "  chain output {", `    type ${type} hook output priority ${priority}; policy accept;`, ...lines.map((l) => `    ${l}`), "  }", "}"];
  return [...table("inet", `${PREFIX}_egress`, "filter", 0, filter), ...table("ip", `${PREFIX}_redirect`, "nat", -100, nat), ""].join("\n");
}

async function run(command: string, args: string[], input?: string): Promise<string> {
  const child = execFileAsync(command, args, { timeout: 5_000 });
  if (input !== undefined) child.child.stdin?.end(input);
  const { stdout } = await child;
  return stdout;
}

function runSync(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { stdio: ["ignore", "pipe", "ignore"], timeout: 5_000, encoding: "utf8" });
  } catch {
    return ""; // gone already
  }
}

function names(x: number): { bridge: string; nsPrefix: string; vethPrefix: string } {
  return { bridge: `${PREFIX}${x}br`, nsPrefix: `${PREFIX}${x}-`, vethPrefix: `${PREFIX}${x}h` };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes everything of lab x, synchronously (it also runs in a process "exit" handler): the
 * processes in its namespaces, the namespaces, host-side veths left over, the bridge.
 */
function removeLabSync(x: number, options: { bridge: boolean }): void {
  const { bridge, nsPrefix, vethPrefix } = names(x);
  const namespaces = runSync("ip", ["netns", "list"])
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((ns) => ns.startsWith(nsPrefix));
  for (const ns of namespaces) {
    for (const pid of runSync("ip", ["netns", "pids", ns]).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // exited meanwhile
      }
    }
    runSync("ip", ["netns", "del", ns]);
  }
  for (const line of runSync("ip", ["-o", "link", "show"]).split("\n")) {
    const ifname = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (ifname?.startsWith(vethPrefix)) runSync("ip", ["link", "del", ifname]);
  }
  if (options.bridge) runSync("ip", ["link", "del", bridge]);
}

/** The pid in the alias of lab x's bridge, or undefined (no bridge, or no owner recorded). */
async function ownerOf(bridge: string): Promise<number | undefined> {
  try {
    const [info] = JSON.parse(await run("ip", ["-j", "link", "show", "dev", bridge])) as { ifalias?: string }[];
    const pid = /owner=(\d+)/.exec(info?.ifalias ?? "")?.[1];
    return pid === undefined ? undefined : Number(pid);
  } catch {
    return undefined;
  }
}

/** Creates lab x's bridge; false when another live lab holds x (or the /24 is in use otherwise). */
async function acquire(x: number): Promise<boolean> {
  const { bridge } = names(x);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await run("ip", ["link", "add", bridge, "type", "bridge"]);
    } catch {
      const owner = await ownerOf(bridge);
      if (owner !== undefined && isAlive(owner)) return false;
      // Left behind by a test process that was killed (or half made, an instant ago, by one that
      // is starting: then its own alias is there within milliseconds; without an owner after a
      // pause, it is stale).
      if (owner === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const late = await ownerOf(bridge);
        if (late !== undefined && isAlive(late)) return false;
      }
      removeLabSync(x, { bridge: true });
      continue;
    }
    await run("ip", ["link", "set", "dev", bridge, "alias", `${PREFIX} owner=${process.pid}`]);
    // Addresses of the /24 anywhere else (set up by hand, or another tool): not ours to use.
    const inUse = await run("ip", ["-o", "-4", "addr", "show", "to", `198.19.${x}.0/24`]);
    if (inUse.trim() !== "") {
      await run("ip", ["link", "del", bridge]);
      return false;
    }
    // Leftovers of a killed lab of the same x, now that x is ours.
    removeLabSync(x, { bridge: false });
    return true;
  }
  return false;
}

/** Creates the bridge of a free lab subnet; call keepTestRangeLocal() (netns-support.ts) first when anything in this namespace may connect to a lab address after the lab is gone. */
export async function createLab(options: LabOptions = {}): Promise<Lab> {
  const first = options.subnet ?? 0;
  for (let i = 0; i < 16; i += 1) {
    const x = (first + i) % 256;
    if (await acquire(x)) return buildLab(x);
  }
  throw new Error(`no free lab subnet among 198.19.${first}-${(first + 15) % 256}.0/24`);
}

async function buildLab(x: number): Promise<Lab> {
  const { bridge, nsPrefix, vethPrefix } = names(x);
  const processes = new Set<LabProcess>();
  const onExit = (): void => {
    for (const p of processes) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    removeLabSync(x, { bridge: true });
  };
  process.once("exit", onExit);

  const gateway = `198.19.${x}.1`;
  const address = (n: number): string => {
    if (!Number.isInteger(n) || n < 2 || n > 254) throw new RangeError(`lab host number ${n}: 2 to 254`);
    return `198.19.${x}.${n}`;
  };
  try {
    await run("ip", ["addr", "add", `${gateway}/24`, "dev", bridge]);
    await run("ip", ["link", "set", bridge, "up"]);
  } catch (error) {
    process.off("exit", onExit);
    removeLabSync(x, { bridge: true });
    throw error;
  }

  const spawnTracked = (name: string, command: string, args: string[], options: SpawnOptions = {}): LabProcess => {
    const p = startProcess(name, command, args, options);
    processes.add(p);
    void p.exited.then(() => processes.delete(p));
    return p;
  };

  let stopped: Promise<void> | undefined;
  return {
    subnet: x,
    bridge,
    gateway,
    address,
    async addHost(name, n, hostOptions = {}) {
      const namespace = `${nsPrefix}${name}`;
      const hostIf = `${vethPrefix}${n}`;
      const nsIf = `${PREFIX}${x}n${n}`;
      const addresses = [address(n), ...(hostOptions.extra ?? []).map(address)];
      await run("ip", ["netns", "add", namespace]);
      await run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", namespace]);
      await run("ip", ["link", "set", hostIf, "master", bridge]);
      await run("ip", ["link", "set", hostIf, "up"]);
      for (const a of addresses) await run("ip", ["-n", namespace, "addr", "add", `${a}/24`, "dev", nsIf]);
      await run("ip", ["-n", namespace, "link", "set", nsIf, "up"]);
      await run("ip", ["-n", namespace, "link", "set", "lo", "up"]);
      return {
        name,
        namespace,
        address: address(n),
        addresses,
        async nft(ruleset) {
          await run("ip", ["netns", "exec", namespace, "nft", "-f", "-"], ruleset);
        },
        exec: (command, args) => run("ip", ["netns", "exec", namespace, command, ...args]),
        spawn: (processName, command, args, options) =>
          spawnTracked(processName, "ip", ["netns", "exec", namespace, ...dieWithParent(), command, ...args], options),
      };
    },
    spawn(processName, command, args, options) {
      const [first, ...rest] = [...dieWithParent(), command, ...args];
      return spawnTracked(processName, first as string, rest, options);
    },
    stop() {
      stopped ??= (async () => {
        await Promise.all([...processes].map((p) => p.stop()));
        process.off("exit", onExit);
        removeLabSync(x, { bridge: true });
      })();
      return stopped;
    },
  };
}

let pdeathsig: boolean | undefined;

/**
 * ["setpriv", "--pdeathsig", "KILL", "--"] when util-linux's setpriv can do it: the kernel then
 * kills the child when the test process dies, even by SIGKILL, when no "exit" handler runs.
 * (`ip netns exec` and setpriv exec their command: the setting reaches it.)
 */
function dieWithParent(): string[] {
  if (pdeathsig === undefined) {
    try {
      pdeathsig = execFileSync("setpriv", ["--help"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5_000 }).includes("--pdeathsig");
    } catch {
      pdeathsig = false;
    }
  }
  return pdeathsig ? ["setpriv", "--pdeathsig", "KILL", "--"] : [];
}

function startProcess(name: string, command: string, args: string[], options: SpawnOptions): LabProcess {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("SMTP_PROBE_")) env[key] = value;
  Object.assign(env, options.env);
  const passOn = process.env.LOG_LEVEL ? (line: string): void => void process.stderr.write(`[${name}] ${line}\n`) : undefined;
  return startChild(name, command, args, { env, cwd: options.cwd, lifeline: options.lifeline, onLine: options.onLine ?? passOn });
}
