// One JSON shape for `--json`, end to end: the real binary against an smtp-server fixture this
// test starts on 127.0.0.1 (advertising SIZE), locally and through an embedded coordinator this
// test starts. A script reads both with one parser: the same ProbeReport, 64-bit integers as
// strings; a failed call a google.rpc.Status, never an empty stdout. Nothing else is contacted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/free-port.js";
import { connectProbeApi } from "../helpers/grpc-client.js";
import { runCli, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { waitFor } from "../helpers/wait.js";

const TEST_MS = 40_000;
const SIZE = 35_882_577;

/** What a script needs of a report, whoever made it: the one parser. */
interface Report {
  probeId: string;
  regions: string[];
  request: { host: string; ports: number[]; regions?: string[] };
  tasks: {
    region: string;
    port: number;
    status: string;
    result: { handshakes: { outcome: string; capabilities: { size: string; starttls: boolean }; transcript: { bytes: string } }[] };
  }[];
  comparison: { cells: { region: string; port: number; state: string }[]; verdicts: { port: number; kind: string }[] };
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

function parseReport(stdout: string): Report {
  const report = JSON.parse(stdout) as Report;
  for (const key of ["probeId", "regions", "request", "tasks", "comparison", "startedAt", "finishedAt", "durationMs"] as const) expect(report, key).toHaveProperty(key);
  return report;
}

let fixture: SmtpFixture;
let coordinator: CoordinatorProcess;

beforeAll(async () => {
  fixture = await startSmtpFixture({ size: SIZE });
  coordinator = await startCoordinatorProcess({ allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] });
  const api = connectProbeApi(coordinator.address);
  try {
    await waitFor(async () => Boolean((await api.listRegions({ deadlineMs: 3000 }).catch(() => undefined))?.regions.some((r) => r.agents.length > 0)), 15_000, "region local served", 100);
  } finally {
    api.close();
  }
}, START_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await coordinator?.stop();
  await fixture?.stop();
});

describe("--json: one ProbeReport, locally or through a coordinator", () => {
  it(
    "the same top-level fields, one region each (local), the same verdicts; 64-bit integers as strings",
    async () => {
      const args = ["check", "127.0.0.1", "--port", String(fixture.port), "--json", "--timeout", "8"];
      const [local, remote] = await Promise.all([runCli(args), runCli([...args, "--coordinator", coordinator.address])]);
      expect([local.code, remote.code], `${local.stderr}${remote.stderr}`).toEqual([1, 1]);
      const [here, there] = [parseReport(local.stdout), parseReport(remote.stdout)];
      // The same top-level fields (probeId, request, regions, tasks, comparison, timings, ...).
      expect(Object.keys(here).sort()).toEqual(Object.keys(there).sort());
      for (const report of [here, there]) {
        expect(report.regions).toEqual(["local"]);
        // As asked: no --regions, so none in the request; the one planned is in `regions`.
        expect(report.request).toMatchObject({ host: "127.0.0.1", ports: [fixture.port] });
        expect(report.request.regions).toBeUndefined();
        expect(report.tasks.map((t) => [t.region, t.port, t.status])).toEqual([["local", fixture.port, "TASK_STATUS_DONE"]]);
        expect(report.comparison.verdicts.map((v) => [v.port, v.kind])).toEqual([[fixture.port, "VERDICT_KIND_REACHABLE_EVERYWHERE"]]);
        const [handshake] = report.tasks[0]!.result.handshakes;
        expect(handshake?.outcome).toBe("OUTCOME_OK");
        // uint64 in the protobuf JSON mapping: decimal strings.
        expect(handshake?.capabilities.size).toBe(String(SIZE));
        expect(handshake?.transcript.bytes).toMatch(/^[1-9]\d*$/);
      }
      expect(here.probeId).not.toBe(there.probeId);
    },
    TEST_MS,
  );

  it(
    "regions --json: tasks_done as a string",
    async () => {
      const run = await runCli(["regions", "--coordinator", coordinator.address, "--json"]);
      expect(run.code, run.stderr).toBe(0);
      const { regions } = JSON.parse(run.stdout) as { regions: { name: string; agents: { tasksDone?: string }[] }[] };
      const done = regions.find((r) => r.name === "local")?.agents[0]?.tasksDone;
      // 0 is left out, as proto3 JSON does; after the probes above it is a count, as a string.
      expect(done === undefined || /^\d+$/.test(done)).toBe(true);
    },
    TEST_MS,
  );

  it(
    "a call that fails: a google.rpc.Status on stdout as well as the line on stderr, so `| jq` never reads nothing",
    async () => {
      const nowhere = `127.0.0.1:${await freePort()}`;
      const [check, regions] = await Promise.all([
        runCli(["check", "127.0.0.1", "--coordinator", nowhere, "--json", "--timeout", "3"]),
        runCli(["regions", "--coordinator", nowhere, "--json"]),
      ]);
      for (const run of [check, regions]) {
        expect(run.code).toBe(4);
        const line = `coordinator ${nowhere} is unavailable: connect ECONNREFUSED ${nowhere} (is it running, and on this address?)`;
        expect(run.stderr).toBe(`smtp-probe: ${line}\n`);
        expect(JSON.parse(run.stdout)).toEqual({ code: 14, message: line });
      }
    },
    TEST_MS,
  );

  it(
    "the coordinator's INVALID_ARGUMENT: its BadRequest in the details; a usage error caught here: ours",
    async () => {
      const ports = Array.from({ length: 9 }, (_, i) => 2000 + i).join(",");
      const [refused, usage] = await Promise.all([
        runCli(["check", "127.0.0.1", "--port", ports, "--coordinator", coordinator.address, "--json"]),
        runCli(["check", "127.0.0.1", "--port", "0", "--json"]),
      ]);
      expect(refused.code).toBe(2);
      const status = JSON.parse(refused.stdout) as { code: number; message: string; details: { "@type": string; fieldViolations: { field: string }[] }[] };
      expect(status.code).toBe(3);
      expect(status.message).toMatch(/^--port: at most \d+ ports/);
      expect(status.details[0]).toMatchObject({ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "ports" }] });
      expect(usage.code).toBe(2);
      expect(JSON.parse(usage.stdout)).toMatchObject({ code: 3, message: '--port: "0" is not a port (1-65535)', details: [{ fieldViolations: [{ field: "--port" }] }] });
    },
    TEST_MS,
  );
});
