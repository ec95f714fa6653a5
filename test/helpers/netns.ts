// A "black hole" host for timeout tests (root only): a network namespace joined to the host by
// a veth pair, host side 198.18.<x>.1/30, namespace side 198.18.<x>.2/30 (198.18.0.0/15 is the
// benchmarking range, RFC 2544: never on the internet). nftables inside the namespace decides
// what a connection from the host to 198.18.<x>.2 sees:
//   port 25   dropped            -> connect times out
//   port 2525 TCP reset (nft)    -> ECONNREFUSED
//   port 465  ICMP host-unreach  -> EHOSTUNREACH
//   any other port               -> nothing listens: the kernel's RST, ECONNREFUSED
// The namespace name doubles as the lock on <x>: `ip netns add` fails when another test file
// (another process) holds it.
//
// Never connect to the address after stop(): without the veth's on-link route, 198.18.<x>.2
// follows the default route off the machine (on the dev VM something out there accepts :25).
import { execFile, execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { promisify } from "node:util";
import { keepTestRangeLocal, netnsAvailable } from "../../scripts/lab/netns-support.js";

const execFileAsync = promisify(execFile);

export interface BlackholeOptions {
  /** Ports whose SYNs are dropped (connect times out). Default [25]. */
  drop?: number[];
  /** Ports answered with a TCP reset by nftables. Default [2525]. */
  reset?: number[];
  /** Ports answered with ICMP host-unreachable. Default [465]. */
  unreachable?: number[];
}

export interface BlackholeHost {
  /** 198.18.<x>.2, the namespace side. */
  address: string;
  /** 198.18.<x>.1, the host side. */
  hostAddress: string;
  namespace: string;
  stop(): Promise<void>;
}

const namePrefix = "spbh";

async function run(command: string, args: string[], input?: string): Promise<string> {
  const child = execFileAsync(command, args, { timeout: 5_000 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  return stdout;
}

async function runQuietly(command: string, args: string[]): Promise<void> {
  try {
    await run(command, args);
  } catch {
    // cleanup of something that may be gone already
  }
}

function nftRules(opts: BlackholeOptions): string {
  const set = (ports: number[]): string => `{ ${ports.join(", ")} }`;
  const drop = opts.drop ?? [25];
  const reset = opts.reset ?? [2525];
  const unreachable = opts.unreachable ?? [465];
  return [
    "table inet blackhole {",
    "  chain input {",
    "    type filter hook input priority 0; policy accept;",
    ...(drop.length ? [`    tcp dport ${set(drop)} drop`] : []),
    ...(reset.length ? [`    tcp dport ${set(reset)} reject with tcp reset`] : []),
    ...(unreachable.length ? [`    tcp dport ${set(unreachable)} reject with icmp type host-unreachable`] : []),
    "  }",
    "}",
    "",
  ].join("\n");
}

async function isSubnetFree(x: number): Promise<boolean> {
  const inUse = await run("ip", ["-o", "-4", "addr", "show", "to", `198.18.${x}.0/24`]);
  const routed = await run("ip", ["-4", "route", "show", "to", "match", `198.18.${x}.1`]);
  // The default route matches everything; only a more specific route means someone uses it.
  return inUse.trim() === "" && !routed.split("\n").some((line) => line.startsWith("198.18."));
}

export async function createBlackholeHost(opts: BlackholeOptions = {}): Promise<BlackholeHost> {
  const reason = await netnsAvailable();
  if (reason !== undefined) throw new Error(`cannot create a black-hole host: ${reason}`);
  await keepTestRangeLocal();

  for (let attempt = 0; attempt < 20; attempt += 1) {
    // 198.18.64.0 - 198.18.254.0: leaves the low subnets to anything else a person sets up by hand.
    const x = randomInt(64, 255);
    const namespace = `${namePrefix}-${x}`;
    try {
      await run("ip", ["netns", "add", namespace]);
    } catch {
      continue; // taken by a concurrent test file
    }
    const hostIf = `${namePrefix}${x}h`;
    const nsIf = `${namePrefix}${x}n`;
    // Safety net for a test that forgets stop() or a worker that exits early: no leaked namespace.
    const onExit = (): void => {
      for (const args of [["netns", "del", namespace], ["link", "del", hostIf]]) {
        try {
          execFileSync("ip", args, { stdio: "ignore", timeout: 5_000 });
        } catch {
          // gone already
        }
      }
    };
    process.once("exit", onExit);
    const stop = async (): Promise<void> => {
      process.off("exit", onExit);
      await runQuietly("ip", ["netns", "del", namespace]);
      // Deleting the namespace deletes its veth end, and with it the host end; belt and braces:
      await runQuietly("ip", ["link", "del", hostIf]);
    };
    try {
      if (!(await isSubnetFree(x))) {
        await stop();
        continue;
      }
      const hostAddress = `198.18.${x}.1`;
      const address = `198.18.${x}.2`;
      await run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", nsIf]);
      await run("ip", ["link", "set", nsIf, "netns", namespace]);
      await run("ip", ["addr", "add", `${hostAddress}/30`, "dev", hostIf]);
      await run("ip", ["link", "set", hostIf, "up"]);
      await run("ip", ["-n", namespace, "addr", "add", `${address}/30`, "dev", nsIf]);
      await run("ip", ["-n", namespace, "link", "set", nsIf, "up"]);
      await run("ip", ["-n", namespace, "link", "set", "lo", "up"]);
      await run("ip", ["netns", "exec", namespace, "nft", "-f", "-"], nftRules(opts));
      let stopped: Promise<void> | undefined;
      return {
        address,
        hostAddress,
        namespace,
        stop() {
          stopped ??= stop();
          return stopped;
        },
      };
    } catch (err) {
      await stop();
      throw new Error(`cannot set up black-hole namespace ${namespace}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }
  throw new Error("cannot create a black-hole host: no free 198.18.<x>.0/30 subnet after 20 tries");
}
