// What the command loads when it starts: the compiled CLI (bin/smtp-probe.js → dist/) run with a
// module-load observer (test/helpers/load-observer.mjs). The help and a local check must not load
// the gRPC client, the NATS client or the metrics registry: those come with the commands that use
// them (a check through a coordinator, `regions`, the coordinator and the agent).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/free-port.js";
import { runCli, type CliRun } from "../helpers/processes.js";

const OBSERVER = fileURLToPath(new URL("../helpers/load-observer.mjs", import.meta.url));
const HEAVY = ["@grpc/grpc-js", "nats", "prom-client"];

/** Runs the CLI under the observer; its output and the packages (node_modules/NAME) it loaded. */
async function runObserved(dir: string, name: string, args: string[]): Promise<{ run: CliRun; modules: string[]; packages: Set<string> }> {
  const file = join(dir, `${name}.txt`);
  const run = await runCli(args, { LOAD_OBSERVER_FILE: file, NO_COLOR: "1" }, 30_000, ["--import", OBSERVER]);
  const modules = (await readFile(file, "utf8")).split("\n").filter(Boolean);
  const packages = new Set(modules.flatMap((m) => [.../node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(m)?.slice(1) ?? []]));
  return { run, modules, packages };
}

describe("smtp-probe loads only what the command uses", () => {
  let dir: string;
  let refusedPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-startup-"));
    // Nothing listens there: the check ends at once with "refused".
    refusedPort = await freePort();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each<[string, () => string[], number]>([
    ["--help", () => ["--help"], 0],
    ["check --help", () => ["check", "--help"], 0],
    ["a local check (refused)", () => ["check", "127.0.0.1", "--port", String(refusedPort), "--timeout", "5s"], 3],
    ["domain --help", () => ["domain", "--help"], 0],
    // Nothing answers DNS there: every part is a DNS error, mx_dns_error among them (exit code 1).
    ["a local domain check (DNS refused)", () => ["domain", "example.test", "--dns-server", `127.0.0.1:${refusedPort}`, "--timeout", "5s"], 1],
    ["agent --help", () => ["agent", "--help"], 0],
    ["coordinator --help", () => ["coordinator", "--help"], 0],
    // Settings are resolved before the process's modules load: a wrong one costs nothing more.
    ["an agent with a wrong setting", () => ["agent", "--region", "Bad Region", "--nats", `nats://127.0.0.1:${refusedPort}`], 2],
  ])("%s: runs the compiled JavaScript, without gRPC, NATS or prom-client", async (name, args, code) => {
    const { run, modules, packages } = await runObserved(dir, name.replace(/\W+/g, "-"), args());
    expect(run.code, run.stderr).toBe(code);
    expect(modules.some((m) => m.endsWith("/dist/cli/main.js"))).toBe(true);
    expect(modules.some((m) => /\/(cli|lib|agents|services)\/[^/]+\.ts$/.test(m))).toBe(false);
    expect(HEAVY.filter((p) => packages.has(p))).toEqual([]);
  });

  it("the observer sees them where they are used: `regions` loads the gRPC client", async () => {
    const { run, packages } = await runObserved(dir, "regions", ["regions", "--coordinator", `127.0.0.1:${refusedPort}`]);
    expect(run.code, run.stderr).toBe(4);
    expect(packages.has("@grpc/grpc-js")).toBe(true);
  });
});
