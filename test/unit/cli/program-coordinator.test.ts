// The command line's coordinator flags: only paths that never reach the network (usage errors and
// help). The calls themselves are tested end to end (test/e2e/cli-coordinator.test.ts).
import { describe, expect, it } from "vitest";
import { runCli, type CliDeps } from "../../../cli/program.js";

async function run(argv: string[], envCoordinator?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const deps: CliDeps = {
    version: "9.8.7",
    defaultEhloName: "probe.test",
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    readFile: () => Promise.reject(new Error("not read in these tests")),
    signal: new AbortController().signal,
    envCoordinator,
  };
  const code = await runCli(argv, deps);
  return { code, stdout, stderr };
}

describe("check --coordinator and regions: usage", () => {
  it.each<[string[], string | undefined, string]>([
    [["check", "mx.example.com", "--coordinator", "127.0.0.1:1", "--dns-server", "192.0.2.53"], undefined, "smtp-probe: --dns-server: only in local mode"],
    [["check", "mx.example.com", "--coordinator", "127.0.0.1:1", "--ca-file", "ca.pem"], undefined, "smtp-probe: --ca-file: only in local mode"],
    [["check", "mx.example.com", "--ca-file", "ca.pem"], "127.0.0.1:1", "smtp-probe: --ca-file: only in local mode: the agents check certificate chains against their own CA store (the agent's --ca-file); SMTP_PROBE_COORDINATOR is set; --local probes from here"],
    [["check", "mx.example.com", "--regions", "us-east"], undefined, "smtp-probe: --regions: needs --coordinator"],
    [["check", "mx.example.com", "--coordinator", "x", "--local"], undefined, "smtp-probe: --local: cannot be combined with --coordinator"],
    [["check", "mx.example.com", "--coordinator", "127.0.0.1:99999"], undefined, 'smtp-probe: --coordinator: "127.0.0.1:99999" has a bad port "99999" (1-65535)'],
    [["check", "bad host", "--coordinator", "127.0.0.1:1"], undefined, 'smtp-probe: host: "bad host" is not a host name or IP address'],
    [["check", "mx.example.com", "--coordinator", "127.0.0.1:1", "--timeout", "soon"], undefined, 'smtp-probe: --timeout: "soon" is not a duration'],
    [["regions"], undefined, "smtp-probe: --coordinator: needed: the coordinator to ask, HOST[:PORT] (or set SMTP_PROBE_COORDINATOR)"],
    [["regions"], "", "smtp-probe: --coordinator: needed"],
    [["regions", "--coordinator", "[::1"], undefined, 'smtp-probe: --coordinator: "[::1" is not HOST[:PORT]'],
  ])("%j (SMTP_PROBE_COORDINATOR=%j): one line naming the flag, exit code 2", async (argv, env, message) => {
    const result = await run(argv, env);
    expect(result.stdout).toBe("");
    expect(result.stderr.startsWith(message)).toBe(true);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.code).toBe(2);
  });

  it("--local with the variable set stays local (and its usage rules apply)", async () => {
    const result = await run(["check", "mx.example.com", "--local", "--port", "0"], "127.0.0.1:1");
    expect(result).toMatchObject({ code: 2, stderr: 'smtp-probe: --port: "0" is not a port (1-65535)\n' });
  });

  it("the help of check names the coordinator flags and exit code 4; regions has its own help", async () => {
    const check = await run(["check", "--help"]);
    for (const text of ["--coordinator", "--regions", "--local", "SMTP_PROBE_COORDINATOR", "  4    with --coordinator: no answer"]) expect(check.stdout).toContain(text);
    const regions = await run(["regions", "--help"]);
    expect(regions.code).toBe(0);
    for (const text of ["--coordinator", "--json", "--no-color", "Exit codes"]) expect(regions.stdout).toContain(text);
    const top = await run(["--help"]);
    expect(top.stdout).toContain("regions [options]");
  });
});
