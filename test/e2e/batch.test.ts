// Batches through the BatchService of real coordinators (`smtp-probe coordinator --nats …`) sharing
// a private nats-server with JetStream, an agent and an smtp-server fixture on 127.0.0.1: a batch
// of 1,000 items through two coordinators, one killed (SIGKILL) halfway — every item is reported
// exactly once; a batch whose coordinator is killed as soon as it answered, reported whole; a watch resumed after a sequence; a cancelled batch; bad batches refused naming the
// field; an embedded coordinator (no JetStream) saying batches need it.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, makeGenericClientConstructor, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { CreateMonitorRequest, MonitorServiceDefinition } from "../../gen/smtpprobe/v1/monitor.js";
import { grpcClientConstructor } from "../../lib/grpc-service.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatchItemStatus, BatchState, type BatchEvent } from "../../gen/smtpprobe/v1/batch.js";
import { connectBatchApi, type BatchApi } from "../helpers/batch-client.js";
import { freePort } from "../helpers/free-port.js";
import { connectProbeApi } from "../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { runCli, startAgentProcess, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, stopAll, type AgentProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";

const nats = await need(natsServerAvailable);
const REGION = "eu-west";
const ITEMS = 1_000;
const MAX_TARGETS = 1_000;

describe.skipIf(nats.skip)("batches through two coordinators sharing JetStream", () => {
  let server: NatsServer;
  let fixture: SmtpFixture;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let agent: AgentProcess;
  let apiA: BatchApi;
  let apiB: BatchApi;

  const targets = (n: number, port: number) => Array.from({ length: n }, () => ({ host: "127.0.0.1", ports: [port] }));

  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-batch-"));
    // A server that takes its time to greet, so that the batch is still running when one coordinator dies.
    [server, fixture] = await Promise.all([startNatsServer(), startSmtpFixture({ greetingDelayMs: 20 })]);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] };
    const batchArgs = ["--batch-concurrency", "16", "--max-batch-targets", String(MAX_TARGETS)];
    [a, b] = await Promise.all([
      // At info level, so that its log shows the probes it ran before it was killed.
      startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: [...batchArgs, "--log-level", "info"] }),
      startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: batchArgs }),
    ]);
    const probeApi = connectProbeApi(b.address);
    try {
      agent = await startAgentProcess({ region: REGION, agentId: `${REGION}-1`, nats: server.url, readyVia: Promise.resolve(probeApi), ...policy, extraArgs: ["--concurrency", "64"] });
    } finally {
      probeApi.close();
    }
    apiA = connectBatchApi(a.address);
    apiB = connectBatchApi(b.address);
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    apiA?.close();
    apiB?.close();
    await stopAll([a, b, agent]);
    await Promise.all([server?.stop(), fixture?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const items = (events: BatchEvent[]) => events.flatMap((e) => (e.item ? [e.item] : []));

  it(
    "1,000 items, one coordinator killed halfway: every item is reported exactly once",
    async () => {
      const batch = await apiA.create({ targets: targets(ITEMS, fixture.port), options: { regions: [REGION] } });
      expect(batch).toMatchObject({ state: BatchState.BATCH_STATE_RUNNING, total: ITEMS });
      let killed: Promise<void> | undefined;
      let probedByA = 0;
      const watch = apiB.watch({ batchId: batch.batchId }, () => {
        if (killed || items(watch.events).length < ITEMS / 2) return;
        probedByA = a.output().split("\n").filter((line) => line.includes('"msg":"probe finished"')).length;
        killed = a.kill();
      });
      const { events, error } = await watch.done;
      expect(error).toBeUndefined();
      expect(killed).toBeDefined();
      // The killed coordinator was taking items too (the other one did not do all the work).
      expect(probedByA).toBeGreaterThan(0);
      const reported = items(events);
      const indexes = reported.map((item) => item.index);
      expect(indexes.length).toBe(ITEMS);
      expect(new Set(indexes).size).toBe(ITEMS);
      expect(reported.every((item) => item.status === BatchItemStatus.BATCH_ITEM_STATUS_PROBED && item.report?.complete)).toBe(true);
      const sequences = reported.map((item) => item.sequence);
      expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
      expect(events.at(-1)?.progress).toMatchObject({ state: BatchState.BATCH_STATE_DONE, total: ITEMS, reported: ITEMS });
      expect(await apiB.get(batch.batchId)).toMatchObject({ state: BatchState.BATCH_STATE_DONE, reported: ITEMS });

      // A watch resumed after the tenth report gets the other 990, and ends.
      const resumed = await apiB.watch({ batchId: batch.batchId, afterSequence: sequences[9]! }).done;
      expect(items(resumed.events).map((item) => item.index)).toEqual(indexes.slice(10));
    },
    120_000,
  );

  it(
    "a cancelled batch reports every item once: those not probed yet as CANCELLED",
    async () => {
      const batch = await apiB.create({ targets: targets(300, fixture.port), options: { regions: [REGION] } });
      const cancelled = await apiB.cancel(batch.batchId);
      expect(cancelled.state).toBe(BatchState.BATCH_STATE_CANCELLED);
      const { events, error } = await apiB.watch({ batchId: batch.batchId }).done;
      expect(error).toBeUndefined();
      const reported = items(events);
      expect(new Set(reported.map((item) => item.index)).size).toBe(300);
      expect(reported.length).toBe(300);
      expect(reported.filter((item) => item.status === BatchItemStatus.BATCH_ITEM_STATUS_CANCELLED).length).toBeGreaterThan(0);
      expect(events.at(-1)?.progress).toMatchObject({ state: BatchState.BATCH_STATE_CANCELLED, reported: 300 });
    },
    60_000,
  );

  it.each([
    ["an empty batch", () => ({ targets: [] }), "targets: is empty"],
    ["a batch over the bound", () => ({ targets: targets(MAX_TARGETS + 1, fixture.port) }), `targets: at most ${MAX_TARGETS} targets in one batch, got ${MAX_TARGETS + 1}`],
    ["a bad host", () => ({ targets: [{ host: "127.0.0.1" }, { host: "bad host!" }] }), "targets[1].host:"],
    ["a host in the shared options", () => ({ targets: [{ host: "127.0.0.1" }], options: { host: "x.example" } }), "options.host: must be empty"],
  ])("%s is refused with INVALID_ARGUMENT naming the field", async (_name, request, message) => {
    const error = (await apiB.create(request()).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(message);
  });

  it("a target the policy denies refuses the batch, naming the target", async () => {
    const error = (await apiB.create({ targets: [{ host: "127.0.0.1", ports: [fixture.port] }, { host: "127.0.0.1", ports: [26] }] }).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toContain("targets[1]");
  });

  it(
    "smtp-probe batch FILE --json: one BatchItemReport per line, each target once; --resume --after the rest",
    async () => {
      const file = join(dir, "targets.txt");
      const lines = ["# mail servers", ...Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "127.0.0.1" : `127.0.0.1,${fixture.port}`)), ""];
      await writeFile(file, lines.join("\n"));
      const run = await runCli(["batch", file, "--coordinator", b.address, "--port", String(fixture.port), "--regions", REGION, "--json"], {}, 60_000);
      expect(run.code, run.stderr).toBe(0);
      const reports = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as { index?: number; host: string; status: string; sequence: string });
      // The protobuf JSON form leaves out fields at their default: index 0 has none.
      expect(reports.map((r) => r.index ?? 0).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(reports.every((r) => r.status === "BATCH_ITEM_STATUS_PROBED" && r.host === "127.0.0.1")).toBe(true);
      const batchId = /batch ([0-9a-f-]{36}): 20 targets queued/.exec(run.stderr)?.[1];
      expect(batchId, run.stderr).toBeDefined();
      expect(run.stderr).toContain(`batch ${batchId} done: 20 probed, 0 refused, 0 cancelled`);

      const resumed = await runCli(["batch", "--resume", batchId!, "--after", reports[14]!.sequence, "--coordinator", b.address], {}, 60_000);
      expect(resumed.code, resumed.stderr).toBe(0);
      const hostLines = resumed.stdout.trim().split("\n");
      expect(hostLines).toHaveLength(5);
      expect(hostLines.every((line) => line.startsWith("127.0.0.1: Port ") && line.includes(`from ${REGION}`))).toBe(true);
    },
    90_000,
  );

  it.each([
    [["batch", "FILE:3"], ["127.0.0.1", "127.0.0.1,99999"], "FILE: targets.txt:3"],
    [["batch"], [], "FILE: missing"],
  ])("smtp-probe %j with a bad targets file is a usage error naming the line (exit 2)", async (_args, content, message) => {
    const file = join(dir, "targets.txt");
    await writeFile(file, ["# comment", ...content].join("\n"));
    const args = content.length > 0 ? ["batch", file] : ["batch"];
    const run = await runCli([...args, "--coordinator", b.address], {}, 30_000);
    expect(run.code).toBe(2);
    expect(run.stderr.replace(file, "targets.txt")).toContain(message);
  });

  it("bytes that are not a CreateBatchRequest: INVALID_ARGUMENT, never grpc-js's INTERNAL", async () => {
    const Raw = makeGenericClientConstructor(
      {
        createBatch: {
          path: "/smtpprobe.v1.BatchService/CreateBatch",
          requestStream: false,
          responseStream: false,
          requestSerialize: (bytes: Buffer) => bytes,
          requestDeserialize: (bytes: Buffer) => bytes,
          responseSerialize: (bytes: Buffer) => bytes,
          responseDeserialize: (bytes: Buffer) => bytes,
        },
      },
      "RawBatchService",
    );
    const raw = new Raw(b.address, credentials.createInsecure()) as unknown as { createBatch: (bytes: Buffer, options: object, callback: (error: ServiceError | null) => void) => void; close(): void };
    try {
      const error = await new Promise<ServiceError | null>((resolve) => raw.createBatch(Buffer.from([0x0a, 0xff, 0xff]), { deadline: Date.now() + 5_000 }, resolve));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toContain("request: is not a CreateBatchRequest in protobuf encoding");
    } finally {
      raw.close();
    }
  });

  it(
    "a coordinator killed as soon as it answered CreateBatch: the batch is queued and reported whole, each item once",
    async () => {
      // A third coordinator, killed (SIGKILL) right after its answer, while the items are still being
      // queued. Whichever coordinator took the spool job, every item gets queued: if it was the one
      // killed, the other goes on from the stored count after the ack wait.
      const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] };
      const c = await startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: ["--batch-concurrency", "16", "--max-batch-targets", String(MAX_TARGETS)] });
      const apiC = connectBatchApi(c.address);
      try {
        const batch = await apiC.create({ targets: targets(ITEMS, fixture.port), options: { regions: [REGION] } });
        await c.kill();
        expect(batch).toMatchObject({ state: BatchState.BATCH_STATE_RUNNING, total: ITEMS });
        const { events, error } = await apiB.watch({ batchId: batch.batchId }).done;
        expect(error).toBeUndefined();
        const indexes = items(events).map((item) => item.index);
        expect(indexes.length).toBe(ITEMS);
        expect(new Set(indexes).size).toBe(ITEMS);
        expect(await apiB.get(batch.batchId)).toMatchObject({ state: BatchState.BATCH_STATE_DONE, queued: ITEMS, reported: ITEMS });
      } finally {
        apiC.close();
        await stopAll([c]);
      }
    },
    120_000,
  );

  it("another caller's batch id, or one that is not an id, is refused", async () => {
    const missing = (await apiB.get("00000000-0000-4000-8000-000000000000").catch((e: unknown) => e)) as ServiceError;
    expect(missing.code).toBe(status.NOT_FOUND);
    const bad = (await apiB.get("nope").catch((e: unknown) => e)) as ServiceError;
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toContain("batch_id");
  });
});

describe.skipIf(nats.skip)("batch items under the caller's quota", () => {
  let server: NatsServer;
  let fixture: SmtpFixture;
  let coordinator: CoordinatorProcess;
  let agent: AgentProcess;
  let api: BatchApi;
  let metricsAddress: string;
  /** Every non-empty set of three ports (the fixture's and two closed ones): seven distinct probes, which do not join. */
  let portSets: number[][];

  beforeAll(async () => {
    [server, fixture] = await Promise.all([startNatsServer(), startSmtpFixture({ greetingDelayMs: 20 })]);
    const [metricsPort, closedA, closedB] = await Promise.all([freePort(), freePort(), freePort()]);
    metricsAddress = `127.0.0.1:${metricsPort}`;
    const ports = [fixture.port, closedA, closedB];
    portSets = [1, 2, 3, 4, 5, 6, 7].map((mask) => ports.filter((_, bit) => mask & (1 << bit)));
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: ports };
    // Eight items taken at once, three executions (region × port) of the caller at once: the rest
    // are refused by the quota and go back to the queue, again and again, until each has its turn.
    const quota = ["--batch-concurrency", "8", "--caller-executions-in-flight", "3", "--metrics-listen", metricsAddress];
    coordinator = await startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: quota });
    const probeApi = connectProbeApi(coordinator.address);
    try {
      agent = await startAgentProcess({ region: REGION, agentId: `${REGION}-q`, nats: server.url, readyVia: Promise.resolve(probeApi), ...policy });
    } finally {
      probeApi.close();
    }
    api = connectBatchApi(coordinator.address);
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    api?.close();
    await stopAll([coordinator, agent]);
    await Promise.all([server?.stop(), fixture?.stop()]);
  });

  it(
    "items refused by the quota wait in the queue and are all probed; none is reported refused",
    async () => {
      const batch = await api.create({ targets: Array.from({ length: 40 }, (_, i) => ({ host: "127.0.0.1", ports: portSets[i % portSets.length]! })), options: { regions: [REGION] } });
      const { events, error } = await api.watch({ batchId: batch.batchId }).done;
      expect(error).toBeUndefined();
      const reported = events.flatMap((e) => (e.item ? [e.item] : []));
      expect(new Set(reported.map((item) => item.index)).size).toBe(40);
      expect(reported.every((item) => item.status === BatchItemStatus.BATCH_ITEM_STATUS_PROBED)).toBe(true);
      const metrics = await (await fetch(`http://${metricsAddress}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
      const refused = Number(/^smtpprobe_requests_rejected_total\{reason="caller_quota"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
      expect(refused).toBeGreaterThan(0);
    },
    90_000,
  );
});

describe("batches and monitors without JetStream", () => {
  let embedded: CoordinatorProcess;
  let api: BatchApi;

  beforeAll(async () => {
    embedded = await startCoordinatorProcess({});
    api = connectBatchApi(embedded.address);
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    api?.close();
    await stopAll([embedded]);
  });

  it("an embedded coordinator answers FAILED_PRECONDITION: batches need JetStream", async () => {
    const error = (await api.create({ targets: [{ host: "192.0.2.1" }] }).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain("batches need JetStream");
  });

  it("an embedded coordinator answers FAILED_PRECONDITION: monitors need JetStream", async () => {
    const client = new (grpcClientConstructor(MonitorServiceDefinition))(embedded.address, credentials.createInsecure());
    try {
      const error = await new Promise<ServiceError | null>((resolve) =>
        client.createMonitor(CreateMonitorRequest.fromPartial({ probe: { host: "192.0.2.1" }, intervalSeconds: 60 }), new Metadata(), { deadline: Date.now() + 10_000 }, (e) => resolve(e)),
      );
      expect(error?.code).toBe(status.FAILED_PRECONDITION);
      expect(error?.details).toContain("monitors need JetStream");
    } finally {
      client.close();
    }
  });
});
