import { describe, expect, it } from "vitest";
import { runCli, type CliDeps } from "../../../cli/program.js";

/** Runs the command line with captured streams; only paths that never reach the network. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const deps: CliDeps = {
    version: "9.8.7",
    defaultEhloName: "probe.test",
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    readFile: (path) => Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" })),
    signal: new AbortController().signal,
  };
  const code = await runCli(argv, deps);
  return { code, stdout, stderr };
}

describe("runCli", () => {
  it("prints the version", async () => {
    expect(await run("--version")).toEqual({ code: 0, stdout: "9.8.7\n", stderr: "" });
  });

  it("prints the help of the program and of check on stdout", async () => {
    const top = await run("--help");
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("Usage: smtp-probe [options] [command]");
    expect(top.stdout).toContain("check [options] <host>");
    const check = await run("check", "--help");
    expect(check.code).toBe(0);
    for (const flag of ["--port", "--mx", "--tls", "--port-role", "--ehlo", "--sni", "--ipv4", "--ipv6", "--timeout", "--max-exchangers", "--max-addresses", "--dns-server", "--ca-file", "--transcript", "--json", "--no-color"]) {
      expect(check.stdout).toContain(flag);
    }
    expect(check.stdout).toContain("Exit codes");
    expect(check.stdout).toMatch(/ 5 {4}partly reachable: every port answered/);
  });

  it("prints the help of the long-running commands on the same stdout", async () => {
    const coordinator = await run("coordinator", "--help");
    expect(coordinator.code).toBe(0);
    expect(coordinator.stdout).toContain("Usage: smtp-probe coordinator [options]");
    expect(coordinator.stdout).toContain("--metrics-listen <HOST:PORT>");
    const agent = await run("agent", "--help");
    expect(agent.code).toBe(0);
    expect(agent.stdout).toContain("--region <NAME>");
  });

  it("shows the help on stderr with exit code 2 when no command is given", async () => {
    const result = await run();
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("Usage: smtp-probe");
  });

  it.each([
    [["check", "mx.example.com", "--port", "70000"], 'smtp-probe: --port: "70000" is not a port (1-65535)'],
    [["check", "mx.example.com", "--tls", "maybe"], 'smtp-probe: --tls: "maybe" is not a TLS mode (auto, require, implicit, none)'],
    [["check", "mx.example.com", "--ipv4", "--ipv6"], "smtp-probe: --ipv4/--ipv6: choose one of them"],
    [["check", "mx.example.com", "--bogus"], "smtp-probe: --bogus: unknown option (see smtp-probe check --help)"],
    [["check", "mx.example.com", "--prot", "25"], "smtp-probe: --prot: unknown option (Did you mean --port?) (see smtp-probe check --help)"],
    [["check", "mx.example.com", "--port"], "smtp-probe: --port: needs a value (see smtp-probe check --help)"],
    [["check", "mx.example.com", "--dns-server"], "smtp-probe: --dns-server: needs a value"],
    [["check"], "smtp-probe: host: missing (see smtp-probe check --help)"],
    [["check", "a.example", "b.example"], "smtp-probe: host: one host per check, got 2 arguments"],
    [["check", "bad host"], 'smtp-probe: host: "bad host" is not a host name or IP address'],
    [["frob"], "smtp-probe: unknown command 'frob' (see smtp-probe --help)"],
    [["check", "mx.example.com", "--ca-file", "/nonexistent/ca.pem"], 'smtp-probe: --ca-file: cannot read "/nonexistent/ca.pem": no such file'],
  ])("%j is bad usage: one line naming the flag, exit code 2", async (argv, message) => {
    const result = await run(...argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.startsWith(message)).toBe(true);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  });
});
