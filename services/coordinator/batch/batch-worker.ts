// Takes batch items from the shared work queue and probes them, at most `concurrency` at a time:
// the queue is pulled only for free slots, so waiting items stay in JetStream, never in memory.
// A batch's spool job, taken from the same queue, queues its items from its stored targets, chunk
// by chunk, storing how many are queued after each; handed to another coordinator if this one stops,
// it goes on from there (an item queued twice is stored once: its id is the batch and index), and
// when the queue is full it waits there for room. A spool job takes no slot: slots are probes.
// A new batch's first item is queued right after its spool job (FIRST_ITEMS, by CreateBatch); the
// job waits for the batch's first report (FIRST_REPORT_WAIT_MS at most) before it queues the rest,
// so that the first probe runs while the machine is quiet and the first report reaches the caller
// at about a single probe's time, not behind thousands of publishes; the rest follow at full speed.
// After a pause (nothing to take, nothing running) the worker starts with a few slots and adds one
// per item finished, up to `concurrency` (doubling each round, as TCP's slow start): the first
// items of a batch do not share the machine with `concurrency` others; a long batch runs at full
// concurrency after a few rounds.
// Each item is one Probe call of the batch's caller through the ProbeService operation (quotas,
// the coordinator-wide bound, the target policy, the destination throttle); a probe refused for
// load (RESOURCE_EXHAUSTED, UNAVAILABLE) goes back to the queue for later, anything else becomes
// the item's report. The item leaves the queue only once its report is stored, so a coordinator
// that dies mid-item loses nothing (another takes it after the ack wait), and the report is
// stored once (batch-store.ts deduplicates it).
import { status } from "@grpc/grpc-js";
import { BatchItemStatus, type BatchItemReport } from "../../../gen/smtpprobe/v1/batch.js";
import { QueueFullError, type WorkItem } from "../../../lib/bus.js";
import type { Logger } from "../../../lib/logger.js";
import { metrics } from "../../../lib/metrics.js";
import { CallError } from "../call-tracker.js";
import { statusDetailsOf } from "../grpc-errors.js";
import type { ProbeOperations } from "../probe-service.js";
import { decodeBatchItem, decodeBatchSpool, itemRequest, TARGETS_PER_CHUNK, type BatchItem, type BatchSpool, type StoredTarget } from "./batch-request.js";
import type { BatchStore } from "./batch-store.js";

export interface BatchWorkerOptions {
  store: BatchStore;
  operations: ProbeOperations;
  logger: Logger;
  /** Items probed at once by this coordinator. */
  concurrency: number;
  /** The queue's ack wait: a running item says it is still worked on three times within it. */
  ackWaitMs: number;
  /** How long a new batch's spool job waits for the batch's first report, at most (default FIRST_REPORT_WAIT_MS). */
  firstReportWaitMs?: number;
}

/** How long one pull waits for items when none are there. */
const TAKE_WAIT_MS = 2_000;
/** An item refused for load without a retry delay is handed out again after this. */
const LOAD_RETRY_MS = 1_000;
/** A spool job that found the queue full tries again after this. */
const QUEUE_FULL_RETRY_MS = 5_000;
/** How long a new batch's spool job waits for the batch's first report, at most, before queueing the rest. */
const FIRST_REPORT_WAIT_MS = 1_000;
/** How often a waiting spool job asks whether another coordinator stored a report of its batch. */
const FIRST_REPORT_POLL_MS = 100;
/** Slots open after a pause, before each finished item opens one more. */
const START_SLOTS = 4;
/** After a failure to reach JetStream, the next pull waits this long. */
const PULL_ERROR_PAUSE_MS = 1_000;
/** A failure that repeats at every pull is logged at most this often. */
const WARN_EVERY_MS = 60_000;

export class BatchWorker {
  private running = false;
  private readonly inFlight = new Map<WorkItem, AbortController>();
  private slotFreed: (() => void) | undefined;
  /** The slots open now: START_SLOTS after a pause, one more per item finished, at most `concurrency`. */
  private slots: number;
  /** Spool jobs running: they take no slot (a slot is an item's probe). */
  private spooling = 0;
  private loop: Promise<void> | undefined;
  private warnedAt = 0;
  /** Spool jobs waiting for their batch's first report (firstReport), by batch. */
  private readonly reportWaiters = new Map<string, () => void>();

  constructor(private readonly options: BatchWorkerOptions) {
    this.slots = Math.min(START_SLOTS, options.concurrency);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.pull();
  }

  /** Takes no more items; those running are stopped and handed back to the queue at once. */
  async stop(): Promise<void> {
    this.running = false;
    this.slotFreed?.();
    for (const controller of this.inFlight.values()) controller.abort();
    await this.loop;
    while (this.inFlight.size > 0) await new Promise<void>((resolve) => (this.slotFreed = resolve));
  }

  private async pull(): Promise<void> {
    const { store, concurrency, logger } = this.options;
    while (this.running) {
      // Nothing running: a pause, whatever comes next starts slowly again.
      if (this.inFlight.size === 0) this.slots = Math.min(START_SLOTS, concurrency);
      const free = this.slots - (this.inFlight.size - this.spooling);
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      try {
        // Each item starts as soon as it is handed out; the pull asks only for the free slots.
        for await (const item of store.take(free, TAKE_WAIT_MS)) {
          if (!this.running) {
            item.retry(0);
            continue;
          }
          const controller = new AbortController();
          this.inFlight.set(item, controller);
          void this.run(item, controller.signal).finally(() => {
            this.inFlight.delete(item);
            this.slots = Math.min(concurrency, this.slots + 1);
            const wake = this.slotFreed;
            this.slotFreed = undefined;
            wake?.();
          });
        }
      } catch (error) {
        if (!this.running) break;
        // While NATS is away this fails at every pull: said once a minute.
        if (Date.now() - this.warnedAt >= WARN_EVERY_MS) {
          this.warnedAt = Date.now();
          logger.warn({ err: error }, "batch items could not be taken from JetStream; trying again");
        }
        await new Promise((resolve) => setTimeout(resolve, PULL_ERROR_PAUSE_MS));
      }
    }
  }

  private async run(work: WorkItem, signal: AbortSignal): Promise<void> {
    const { logger } = this.options;
    const item = decodeBatchItem(work.data);
    const spool = item ? undefined : decodeBatchSpool(work.data);
    if (!item && !spool) {
      logger.warn({ subject: work.subject }, "a batch item that is not one was dropped");
      work.drop();
      return;
    }
    const heartbeat = setInterval(() => work.working(), Math.max(100, Math.floor(this.options.ackWaitMs / 3)));
    try {
      if (item) await this.runItem(work, item, signal);
      else {
        this.spooling++;
        await this.runSpool(work, spool!, signal).finally(() => this.spooling--);
      }
    } catch (error) {
      // JetStream unreachable mid-item: the item comes back after the ack wait, to any coordinator.
      logger.warn({ err: error, batchId: item?.batchId ?? spool?.batchId, index: item?.index }, "a batch item could not be finished; it will be handed out again");
      work.retry(LOAD_RETRY_MS);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async runItem(work: WorkItem, item: BatchItem, signal: AbortSignal): Promise<void> {
    const { store, logger } = this.options;
    const record = await store.getRecord(item.batchId, true);
    if (!record) {
      // The batch expired (or its record was lost): nobody can read the item's report.
      logger.warn({ batchId: item.batchId, index: item.index }, "a batch item without its batch was dropped");
      work.drop();
      return;
    }
    const outcome = record.cancelled ? cancelledReport(item) : await this.probe(item, record.caller, record.options, signal);
    if ("retryMs" in outcome || signal.aborted) {
      work.retry("retryMs" in outcome ? outcome.retryMs : 0);
      return;
    }
    await store.appendReport(item.batchId, outcome);
    this.reportWaiters.get(item.batchId)?.();
    await work.done();
  }

  /**
   * Queues the batch's items from where the stored count says (0 the first time), then removes its
   * targets. The next chunk is read while the one before is queued.
   */
  private async runSpool(work: WorkItem, { batchId, total, queued: first }: BatchSpool, signal: AbortSignal): Promise<void> {
    const { store, logger } = this.options;
    const fresh = work.deliveries === 1;
    const counted = fresh ? first : await store.queuedCount(batchId);
    const read = (queued: number) => (queued < total ? store.getTargets(batchId, Math.floor(queued / TARGETS_PER_CHUNK)) : Promise.resolve([]));
    // A new batch's first items were queued beside the job: the rest wait for a report, and so does
    // the first chunk's read (the first probes have the machine to themselves). The record is read
    // meanwhile: it must be there, and the items' workers here find it cached.
    const waited = fresh && first > 0 && first < total ? this.firstReport(batchId, signal) : Promise.resolve();
    const [record, firstChunk] = await Promise.all([store.getRecord(batchId), waited.then(() => (counted === undefined ? undefined : read(counted)))]);
    if (!record || counted === undefined) {
      logger.warn({ batchId }, "the spool job of a batch without its record was dropped");
      work.drop();
      return;
    }
    if (record.cancelled && record.total === 0) {
      work.drop(); // CreateBatch failed to store the batch and refused it: nobody knows its id
      return;
    }
    let queued = counted;
    let chunkRead: Promise<StoredTarget[] | undefined> = Promise.resolve(firstChunk);
    while (queued < total) {
      if (signal.aborted) {
        work.retry(0); // stopping: another coordinator goes on from the stored count
        return;
      }
      const chunk = Math.floor(queued / TARGETS_PER_CHUNK);
      const targets = await chunkRead;
      if (!targets) {
        logger.warn({ batchId, chunk }, "a batch's targets are gone before they were queued (expired?); its spool job was dropped");
        work.drop();
        return;
      }
      const items = targets.slice(queued - chunk * TARGETS_PER_CHUNK).map((t, i): BatchItem => ({ batchId, index: queued + i, host: t.host, ports: t.ports }));
      chunkRead = read((chunk + 1) * TARGETS_PER_CHUNK);
      chunkRead.catch(() => undefined);
      const { queued: added, error } = await store.enqueue(items);
      queued += added;
      await store.putQueuedCount(batchId, queued);
      if (error instanceof QueueFullError) {
        work.retry(QUEUE_FULL_RETRY_MS); // backpressure: the rest stay stored until the queue has room
        return;
      }
      if (error !== undefined) throw error;
    }
    await store.deleteTargets(batchId, total);
    await work.done();
  }

  /**
   * Resolves once the batch has a report, after the wait's bound, or as soon as `signal` aborts; never
   * rejects. A report stored here says so at once; one stored by another coordinator is seen by
   * asking the count every FIRST_REPORT_POLL_MS.
   */
  private async firstReport(batchId: string, signal: AbortSignal): Promise<void> {
    const until = Date.now() + (this.options.firstReportWaitMs ?? FIRST_REPORT_WAIT_MS);
    let wake!: () => void;
    const reported = new Promise<void>((resolve) => (wake = resolve));
    this.reportWaiters.set(batchId, wake);
    signal.addEventListener("abort", wake, { once: true });
    try {
      while (!signal.aborted && Date.now() < until) {
        let timer: NodeJS.Timeout | undefined;
        const poll = new Promise<"poll">((resolve) => (timer = setTimeout(() => resolve("poll"), Math.min(FIRST_REPORT_POLL_MS, until - Date.now()))));
        const woken = await Promise.race([reported, poll]);
        clearTimeout(timer);
        if (woken !== "poll") return;
        if ((await this.options.store.reportedCount(batchId).catch(() => 0)) > 0) return;
      }
    } finally {
      this.reportWaiters.delete(batchId);
      signal.removeEventListener("abort", wake);
    }
  }

  /** The item's report, or how long to wait when the probe was refused for load. */
  private async probe(item: BatchItem, caller: string, options: BatchItemOptions, signal: AbortSignal): Promise<BatchItemReport | { retryMs: number }> {
    const request = itemRequest(options, item);
    try {
      const report = await this.options.operations.probe(request, { caller, deadline: Number.POSITIVE_INFINITY }, { signal });
      metrics.probes.inc({ complete: String(report.complete), call: "batch" });
      return { index: item.index, host: item.host, status: BatchItemStatus.BATCH_ITEM_STATUS_PROBED, report, errorCode: 0, error: "", sequence: 0 };
    } catch (error) {
      if (signal.aborted) return { retryMs: 0 }; // stopping: another coordinator takes the item
      if (!(error instanceof CallError)) throw error;
      const code = error.error.code;
      if (code === status.RESOURCE_EXHAUSTED || code === status.UNAVAILABLE) {
        return { retryMs: statusDetailsOf(error.error).retryAfterMs ?? LOAD_RETRY_MS };
      }
      return { index: item.index, host: item.host, status: BatchItemStatus.BATCH_ITEM_STATUS_REFUSED, report: undefined, errorCode: code, error: error.error.details ?? error.message, sequence: 0 };
    }
  }
}

type BatchItemOptions = Parameters<typeof itemRequest>[0];

function cancelledReport(item: BatchItem): BatchItemReport {
  return { index: item.index, host: item.host, status: BatchItemStatus.BATCH_ITEM_STATUS_CANCELLED, report: undefined, errorCode: 0, error: "", sequence: 0 };
}
