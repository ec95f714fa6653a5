// The operator's deny list, reloaded without a restart: an embedded coordinator (startCoordinator,
// no NATS, its agent in-process) probes an smtp-server fixture on 127.0.0.1; the test edits the
// list file while it runs and sees the next probe denied, then allowed again. Only 127.0.0.1 is
// contacted (127.0.0.0/8 and the fixture's port are allowlisted).
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { ErrorInfo } from "../../../../gen/google/rpc/error_details.js";
import { Status } from "../../../../gen/google/rpc/status.js";
import { Outcome } from "../../../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { watchDenyList } from "../../../../lib/policy/deny-list-watcher.js";
import { ConfigError } from "../../../../lib/config.js";
import { silentLogger } from "../../../../lib/logger.js";
import { metrics, metricValue } from "../../../../lib/metrics.js";
import { startCoordinator, type CoordinatorConfig, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { callError, connectProbeApi, describeError, type ProbeApi } from "../../../helpers/grpc-client.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { delay } from "../../../helpers/wait.js";

function config(port: number, denyListFile: string): CoordinatorConfig {
  return testCoordinatorConfig([port], { denyList: { file: denyListFile, pollMs: 200 } });
}

describe("the deny list, edited while an embedded coordinator runs", () => {
  let dir: string;
  let file: string;
  let fixture: SmtpFixture;
  let coordinator: RunningCoordinator;
  let api: ProbeApi;
  const logged: { level: number; msg: string; problem?: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-deny-"));
    file = join(dir, "deny.list");
    await writeFile(file, "# nothing denied yet\n");
    fixture = await startSmtpFixture();
    const logger = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line) as (typeof logged)[number]) });
    coordinator = await startCoordinator(config(fixture.port, file), logger);
    api = connectProbeApi(`127.0.0.1:${coordinator.port}`);
  });

  afterAll(async () => {
    api?.close();
    await coordinator?.stop(1_000);
    await fixture?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const probe = () => api.probe({ host: "127.0.0.1", ports: [fixture.port] }, { deadlineMs: 8_000 });

  /** Probes until the outcome is as wanted (the reload is asynchronous), for at most 3 s. */
  async function eventually(denied: boolean): Promise<unknown> {
    const until = performance.now() + 3_000;
    for (;;) {
      const outcome = await probe().then(
        (report) => report,
        (error: unknown) => error,
      );
      const isDenied = outcome instanceof Error;
      if (isDenied === denied || performance.now() > until) return outcome;
      await delay(50);
    }
  }

  it("allows, denies after the entry is added, keeps the list on a bad edit, allows after removal", async () => {
    const report = await probe();
    expect(report.tasks[0]?.status).toBe(TaskStatus.TASK_STATUS_DONE);
    expect(report.tasks[0]?.result?.handshakes[0]?.outcome).toBe(Outcome.OUTCOME_OK);

    const before = await metricValue(metrics.requestsRejected, { reason: "deny_list" });
    await writeFile(file, "127.0.0.1  # the fixture\nexample.test\n");
    const denied = await eventually(true);
    const error = await callError(Promise.reject(denied));
    expect(error.code, describeError(error)).toBe(status.PERMISSION_DENIED);
    expect(error.details).toBe("127.0.0.1 is on the operator's deny list (127.0.0.1)");
    const raw = error.metadata.get("grpc-status-details-bin")[0] as Buffer;
    const info = ErrorInfo.decode(Status.decode(raw).details[0]!.value);
    expect(info.metadata).toEqual({ field: "host" });
    expect(await metricValue(metrics.requestsRejected, { reason: "deny_list" })).toBeGreaterThan(before);

    // A name under a listed domain is refused before any DNS query.
    const byName = await callError(api.probe({ host: "MX.Example.test.", ports: [fixture.port] }));
    expect(byName.code).toBe(status.PERMISSION_DENIED);
    expect(byName.details).toBe("mx.example.test. is on the operator's deny list (example.test)");

    // A broken edit: logged, and the previous list stays in force.
    await writeFile(file, "127.0.0.1\n10.1.2.3/8\n");
    const until = performance.now() + 3_000;
    while (!logged.some((l) => l.msg.startsWith("deny list not reloaded")) && performance.now() < until) await delay(20);
    expect(logged.find((l) => l.msg.startsWith("deny list not reloaded"))?.problem).toBe(
      `${file} line 2: "10.1.2.3/8" is not a CIDR range: host bits are set; the network is 10.0.0.0/8`,
    );
    expect((await callError(probe())).code).toBe(status.PERMISSION_DENIED);

    // Replaced the way editors and config management do it: a new file renamed over the old.
    await writeFile(`${file}.new`, "# 127.0.0.1 removed\nexample.test\n");
    await rename(`${file}.new`, file);
    const allowed = await eventually(false);
    expect(allowed, describeError(allowed)).not.toBeInstanceOf(Error);
    expect((await callError(api.probe({ host: "example.test", ports: [fixture.port] }))).code).toBe(status.PERMISSION_DENIED);
  });
});

describe("a deny list that cannot be read at start", () => {
  it.each([
    ["missing", undefined, /^--deny-list: cannot read .*missing\.list: ENOENT$/],
    ["bad", "example.com\n127.1\n", /^--deny-list: .*bad\.list line 2: "127\.1" is a non-canonical IPv4 form/],
  ])("%s: a ConfigError naming the flag", async (name, content, message) => {
    const dir = await mkdtemp(join(tmpdir(), "smtp-probe-deny-"));
    try {
      const file = join(dir, `${name}.list`);
      if (content !== undefined) await writeFile(file, content);
      const started = startCoordinator(config(25, file), silentLogger());
      await expect(started).rejects.toBeInstanceOf(ConfigError);
      await expect(started).rejects.toThrow(message);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("watchDenyList on its own", () => {
  it("reloads on SIGHUP when asked, and keeps the list while the file is gone", async () => {
    const dir = await mkdtemp(join(tmpdir(), "smtp-probe-deny-"));
    const file = join(dir, "deny.list");
    await writeFile(file, "a.test\n");
    // A long poll interval: the reloads below come from SIGHUP or reload(), or fs.watch.
    const watcher = await watchDenyList({ file, logger: silentLogger(), pollMs: 60_000, reloadOnSighup: true });
    try {
      expect(watcher.current().domains).toEqual(["a.test"]);
      await rm(file);
      expect(await watcher.reload()).toBe(false);
      expect(watcher.current().domains).toEqual(["a.test"]);
      await writeFile(file, "b.test\n");
      process.emit("SIGHUP", "SIGHUP");
      const until = performance.now() + 3_000;
      while (watcher.current().domains[0] !== "b.test" && performance.now() < until) await delay(20);
      expect(watcher.current().domains).toEqual(["b.test"]);
    } finally {
      watcher.stop();
      await rm(dir, { recursive: true, force: true });
    }
    expect(process.listenerCount("SIGHUP")).toBe(0);
  });
});
