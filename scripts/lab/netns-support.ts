// What network namespaces need from this machine, and the route that keeps the lab's address range
// on it: shared by the lab (lab-network.ts, `npm run demo`) and the tests' black-hole host
// (test/helpers/netns.ts).
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

async function hasCommand(command: string, versionArgs: string[]): Promise<boolean> {
  try {
    await execFileAsync(command, versionArgs, { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** undefined when network namespaces with nftables rules can be made here, else why not. */
export async function netnsAvailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return `network namespaces need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return "network namespaces need root";
  if (!(await hasCommand("ip", ["-V"]))) return "the ip command (iproute2) is not installed";
  if (!(await hasCommand("nft", ["--version"]))) return "the nft command (nftables) is not installed";
  return undefined;
}

/**
 * Keeps the whole lab range (198.18.0.0/15) on this machine: without it, an address of a namespace
 * that is gone would follow the default route off the machine. The routes of live namespaces are
 * more specific and still win. Idempotent; left in place (it only ever drops lab traffic).
 */
export async function keepTestRangeLocal(): Promise<void> {
  await execFileAsync("ip", ["route", "replace", "blackhole", "198.18.0.0/15"], { timeout: 5_000 });
}
