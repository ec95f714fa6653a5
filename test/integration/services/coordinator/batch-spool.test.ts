// A batch's spool job (batch-worker.ts) against a nats-server with JetStream started here: the
// store and a worker as the coordinator makes them, the probe itself answered by ProbeOperations of
// our own (what is tested is the queueing, not the probe). A spool job taken up again after the
// coordinator holding it stopped goes on from the stored count; the items that coordinator had
// queued past its last count are stored once; every item is reported once; the targets are removed.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatchItemStatus, type BatchItemReport } from "../../../../gen/smtpprobe/v1/batch.js";
import { ProbeReport, ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import type { Bus } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { BATCH_SUBJECTS, BatchStore } from "../../../../services/coordinator/batch/batch-store.js";
import { BatchWorker } from "../../../../services/coordinator/batch/batch-worker.js";
import type { BatchItem, StoredTarget } from "../../../../services/coordinator/batch/batch-request.js";
import type { ProbeOperations } from "../../../../services/coordinator/probe-service.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { waitFor } from "../../../helpers/wait.js";

const nats = await need(natsServerAvailable);

describe.skipIf(nats.skip)("a batch's spool job", () => {
  let server: NatsServer;
  let bus: Bus;
  let store: BatchStore;

  beforeAll(async () => {
    server = await startNatsServer();
    bus = await connectNatsBus({ servers: server.url, name: "batch-spool-test" });
    const opened = await BatchStore.open(bus, { ttlMs: 600_000, maxQueuedItems: 10_000, reportBytes: 64 * 1024 * 1024, ackWaitMs: 2_000 });
    if (!opened) throw new Error("no JetStream");
    store = opened;
  }, 60_000);

  afterAll(async () => {
    await bus?.drain();
    await server?.stop();
  });

  it("taken up again, goes on from the stored count: each of 1,200 items queued and reported once, the targets removed", async () => {
    const batchId = randomUUID();
    const total = 1_200;
    const targets: StoredTarget[] = Array.from({ length: total }, (_, i) => ({ host: `198.18.${Math.floor(i / 250)}.${i % 250}`, ports: [25] }));
    await store.putTargets(batchId, targets);
    await store.putRecord({ batchId, caller: "test", total, createdAt: Date.now(), cancelled: false, options: ProbeRequest.fromPartial({}) });
    // A coordinator takes the spool job, queues 750 items, stores a count of 700 and stops: the job
    // is never finished, and is handed out again after the ack wait (2 s).
    await store.addSpool(batchId, total);
    const taken: number[] = [];
    for await (const work of store.take(1, 1_000)) taken.push(work.deliveries);
    expect(taken).toEqual([1]);
    const queuedBefore: BatchItem[] = targets.slice(0, 750).map((t, index) => ({ batchId, index, host: t.host, ports: t.ports }));
    expect(await store.enqueue(queuedBefore)).toEqual({ queued: 750 });
    await store.putQueuedCount(batchId, 700);
    // What the spool job publishes (a plain subscription sees every item added to the queue).
    let published = 0;
    const publishes = bus.subscribe(BATCH_SUBJECTS.item(batchId), () => void published++);

    const probed: string[] = [];
    const operations = {
      probe: async (request: ProbeRequest) => {
        probed.push(request.host);
        return ProbeReport.fromPartial({ complete: true });
      },
    } as Pick<ProbeOperations, "probe"> as ProbeOperations;
    const worker = new BatchWorker({ store, operations, logger: silentLogger(), concurrency: 16, ackWaitMs: 2_000 });
    const reports: BatchItemReport[] = [];
    const following = new AbortController();
    try {
      worker.start();
      const follow = (async () => {
        for await (const { report } of store.follow(batchId, 0, following.signal)) {
          reports.push(report);
          if (reports.length === total) return;
        }
      })();
      await waitFor(() => reports.length >= total, 30_000, () => `${reports.length} of ${total} reports`);
      await follow;
      await waitFor(async () => (await store.getTargets(batchId, 0)) === undefined, 5_000, "the targets removed");
    } finally {
      following.abort();
      publishes.unsubscribe();
      await worker.stop();
    }
    expect(published).toBe(total - 700);
    expect(reports.map((r) => r.index).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(reports.every((r) => r.status === BatchItemStatus.BATCH_ITEM_STATUS_PROBED)).toBe(true);
    expect(probed).toHaveLength(total);
    expect(await store.queuedCount(batchId)).toBe(total);
    expect(await store.reportedCount(batchId)).toBe(total);
    expect(await store.getTargets(batchId, 2)).toBeUndefined();
  }, 60_000);

  it("without its batch's record, is dropped", async () => {
    const batchId = randomUUID();
    await store.putTargets(batchId, [{ host: "198.18.0.1", ports: [25] }]);
    await store.addSpool(batchId, 1);
    const operations = { probe: async () => ProbeReport.fromPartial({ complete: true }) } as Pick<ProbeOperations, "probe"> as ProbeOperations;
    const worker = new BatchWorker({ store, operations, logger: silentLogger(), concurrency: 4, ackWaitMs: 2_000 });
    try {
      worker.start();
      await waitFor(async () => (await store.room()) === 10_000, 5_000, "the queue emptied");
    } finally {
      await worker.stop();
    }
    expect(await store.queuedCount(batchId)).toBe(0);
    expect(await store.reportedCount(batchId)).toBe(0);
  }, 30_000);
});
