// A batch's spool job (batch-worker.ts) against a nats-server with JetStream started here: the
// store and a worker as the coordinator makes them, the probe itself answered by ProbeOperations of
// our own (what is tested is the queueing, not the probe). A spool job taken up again after the
// coordinator holding it stopped goes on from the stored count; the items that coordinator had
// queued past its last count are stored once; every item is reported once; the targets are removed.
// A new batch's job, queued with its first items, queues the rest once one of them is reported, or
// once its wait's bound has passed without a report.
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

  /**
   * A new batch as CreateBatch stores it: the record, the targets with a queued count of `first`,
   * the spool job and the first items. `published`: how many items the spool job has queued so far.
   */
  async function newBatch(total: number, first: number): Promise<{ batchId: string; published: () => number; stop(): void }> {
    const batchId = randomUUID();
    const targets: StoredTarget[] = Array.from({ length: total }, (_, i) => ({ host: `198.18.1.${i}`, ports: [25] }));
    await store.putRecord({ batchId, caller: "test", total, createdAt: Date.now(), cancelled: false, options: ProbeRequest.fromPartial({}) });
    await store.putTargets(batchId, targets, first);
    // The job first, then the first items (as CreateBatch): a worker takes the job before them.
    await store.addSpool(batchId, total, first);
    expect(await store.enqueue(targets.slice(0, first).map((t, index) => ({ batchId, index, ...t })))).toEqual({ queued: first });
    // From here on, whatever is published for the batch is the spool job's.
    let published = 0;
    const publishes = bus.subscribe(BATCH_SUBJECTS.item(batchId), () => void published++);
    return { batchId, published: () => published, stop: () => publishes.unsubscribe() };
  }

  /** ProbeOperations whose probes of the hosts in `held` answer only once `release` is called. */
  function heldProbes(held: (host: string) => boolean): { operations: ProbeOperations; probed: string[]; release(): void } {
    const probed: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const operations = {
      probe: async (request: ProbeRequest) => {
        probed.push(request.host);
        if (held(request.host)) await released;
        return ProbeReport.fromPartial({ complete: true });
      },
    } as Pick<ProbeOperations, "probe"> as ProbeOperations;
    return { operations, probed, release };
  }

  /**
   * A new batch of `total` items with 4 first ones, taken by a worker whose probes of the `held`
   * hosts wait: `whileFirst` runs once the first items are taken (nothing more is queued by its
   * end), then `afterFirst`; `whileHeld` once the spool job has queued the rest, with the held
   * probes still waiting; then they answer, and every item is reported.
   */
  async function spoolWithHeldProbes(
    total: number,
    held: (host: string) => boolean,
    firstReportWaitMs: number,
    checks: { whileFirst?: () => Promise<void>; afterFirst?: (batchId: string) => Promise<void>; whileHeld: (batchId: string) => Promise<void> },
  ): Promise<string[]> {
    const batch = await newBatch(total, 4);
    const probes = heldProbes(held);
    const worker = new BatchWorker({ store, operations: probes.operations, logger: silentLogger(), concurrency: 8, ackWaitMs: 2_000, firstReportWaitMs });
    try {
      worker.start();
      await waitFor(() => probes.probed.length >= 4, 5_000, "the first items probed");
      if (checks.whileFirst) await checks.whileFirst().then(() => expect(batch.published()).toBe(0));
      await checks.afterFirst?.(batch.batchId);
      await waitFor(() => batch.published() === total - 4, 10_000, () => `${batch.published()} of ${total - 4} items queued by the spool job`);
      await checks.whileHeld(batch.batchId);
      probes.release();
      await waitFor(async () => (await store.reportedCount(batch.batchId)) === total, 10_000, "every item reported");
    } finally {
      probes.release();
      batch.stop();
      await worker.stop();
    }
    return probes.probed;
  }

  it("of a new batch, queues the rest once one of its first items is reported", async () => {
    // Items 1-3 are held; item 0 is reported at once, and the job waits for nothing else (its
    // bound is far off).
    const probed = await spoolWithHeldProbes(40, (host) => host !== "198.18.1.0", 60_000, {
      whileHeld: async (batchId) => expect(await store.reportedCount(batchId)).toBeGreaterThanOrEqual(1),
    });
    expect(probed.filter((host) => host === "198.18.1.0")).toHaveLength(1);
  }, 30_000);

  it("of a new batch whose first items are not reported, queues the rest once its wait's bound has passed", async () => {
    // Nothing reported: nothing more queued while the wait lasts, and the rest after it, while
    // every probe is still held.
    await spoolWithHeldProbes(12, () => true, 1_500, {
      whileFirst: () => new Promise((resolve) => setTimeout(resolve, 300)),
      whileHeld: async (batchId) => expect(await store.reportedCount(batchId)).toBe(0),
    });
  }, 30_000);

  it("of a new batch whose first report another coordinator stored, queues the rest once it asks the count", async () => {
    // Every probe here is held, and the bound far off: only the count can end the wait.
    await spoolWithHeldProbes(12, () => true, 60_000, {
      whileFirst: () => new Promise((resolve) => setTimeout(resolve, 300)),
      afterFirst: async (batchId) => {
        const report = { index: 0, host: "198.18.1.0", status: BatchItemStatus.BATCH_ITEM_STATUS_PROBED, report: undefined, errorCode: 0, error: "", sequence: 0 };
        expect(await store.appendReport(batchId, report)).toEqual({ duplicate: false });
      },
      whileHeld: async (batchId) => expect(await store.reportedCount(batchId)).toBe(1),
    });
  }, 30_000);

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
