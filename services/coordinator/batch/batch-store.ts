// Where batches live, shared by every coordinator through JetStream: the batch records in a
// key-value bucket, with each batch's targets until they are queued and how many are; the items
// (and each batch's spool job, which queues them) waiting in a work-queue stream (one durable
// consumer for all coordinators); and the items' reports in a stream of their own, one subject per
// batch — written once per item (deduplicated by batch and index), read back in order from any point.
import { BatchItemReport } from "../../../gen/smtpprobe/v1/batch.js";
import type { Bus, KeyValueStore, RecordLog, WorkItem, WorkQueue } from "../../../lib/bus.js";
import {
  decodeBatchRecord,
  decodeQueuedCount,
  decodeTargetChunk,
  encodeBatchItem,
  encodeBatchRecord,
  encodeBatchSpool,
  encodeQueuedCount,
  encodeTargetChunk,
  TARGETS_PER_CHUNK,
  type BatchItem,
  type BatchRecord,
  type StoredTarget,
} from "./batch-request.js";

export const BATCH_STREAMS = {
  items: "SMTPPROBE_BATCH_ITEMS",
  reports: "SMTPPROBE_BATCH_REPORTS",
  consumer: "smtpprobe-batch-workers",
  bucket: "smtpprobe-batches",
} as const;

/** Batch ids are UUIDs (checked before use): safe subject tokens. */
export const BATCH_SUBJECTS = {
  item: (batchId: string): string => `smtpprobe.v1.batch.item.${batchId}`,
  items: "smtpprobe.v1.batch.item.*",
  report: (batchId: string): string => `smtpprobe.v1.batch.report.${batchId}`,
  reports: "smtpprobe.v1.batch.report.*",
} as const;

export interface BatchStoreOptions {
  /** How long batches, their waiting items and their reports are kept. */
  ttlMs: number;
  /** Items waiting over all batches at most; a batch that does not fit is refused. */
  maxQueuedItems: number;
  /** Size bound of the reports' stream (the oldest go first). */
  reportBytes: number;
  /** An item taken by a coordinator that stops saying it works on it is handed out again after this. */
  ackWaitMs: number;
}

/**
 * Items published at once while a batch is queued: bounds the publishes in flight. The spool job
 * queues far faster than items are probed even so; a wider window only crowds the connection and
 * the server while a batch's first items are probed and its watch starts.
 */
const ENQUEUE_WINDOW = 32;

/** A record read this recently is used again (a worker reads its batch's record for every item). */
const RECORD_CACHE_MS = 1_000;
const RECORD_CACHE_ENTRIES = 1_000;

export class BatchStore {
  private readonly cache = new Map<string, { record: BatchRecord; at: number }>();

  private constructor(
    private readonly records: KeyValueStore,
    private readonly queue: WorkQueue,
    private readonly reports: RecordLog,
  ) {}

  /** The store, or undefined without JetStream (embedded mode): batches need durable items. */
  static async open(bus: Bus, options: BatchStoreOptions): Promise<BatchStore | undefined> {
    const records = await bus.keyValue(BATCH_STREAMS.bucket, { ttlMs: options.ttlMs, maxBytes: 64 * 1024 * 1024 });
    if (!records) return undefined;
    const queue = await bus.workQueue({
      name: BATCH_STREAMS.items,
      subjects: BATCH_SUBJECTS.items,
      consumer: BATCH_STREAMS.consumer,
      maxItems: options.maxQueuedItems,
      maxAgeMs: options.ttlMs,
      ackWaitMs: options.ackWaitMs,
    });
    const reports = await bus.recordLog({ name: BATCH_STREAMS.reports, subjects: BATCH_SUBJECTS.reports, maxAgeMs: options.ttlMs, maxBytes: options.reportBytes, duplicateWindowMs: 3_600_000 });
    return queue && reports ? new BatchStore(records, queue, reports) : undefined;
  }

  async putRecord(record: BatchRecord): Promise<void> {
    this.cache.delete(record.batchId);
    await this.records.put(record.batchId, encodeBatchRecord(record));
    this.remember(record);
  }

  /** The record (at most RECORD_CACHE_MS old when `cached`), or undefined: unknown or expired. */
  async getRecord(batchId: string, cached = false): Promise<BatchRecord | undefined> {
    const hit = this.cache.get(batchId);
    if (cached && hit && Date.now() - hit.at < RECORD_CACHE_MS) return hit.record;
    const data = await this.records.get(batchId);
    const record = data ? decodeBatchRecord(data) : undefined;
    if (record) this.remember(record);
    return record;
  }

  private remember(record: BatchRecord): void {
    this.cache.delete(record.batchId);
    if (this.cache.size >= RECORD_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(record.batchId, { record, at: Date.now() });
  }

  /** A batch's keys beside its record: how many items are queued, and its targets' chunks. */
  private static queuedKey = (batchId: string): string => `${batchId}.queued`;
  private static chunkKey = (batchId: string, chunk: number): string => `${batchId}.targets.${chunk}`;

  /**
   * Stores the targets (in chunks of TARGETS_PER_CHUNK, written at once) and the queued count:
   * `queued`, the first items addSpool queues with the job.
   */
  async putTargets(batchId: string, targets: readonly StoredTarget[], queued = 0): Promise<void> {
    const writes = [this.records.put(BatchStore.queuedKey(batchId), encodeQueuedCount(queued))];
    for (let chunk = 0; chunk * TARGETS_PER_CHUNK < targets.length; chunk++) {
      const part = targets.slice(chunk * TARGETS_PER_CHUNK, (chunk + 1) * TARGETS_PER_CHUNK);
      writes.push(this.records.put(BatchStore.chunkKey(batchId, chunk), encodeTargetChunk(part)));
    }
    await Promise.all(writes);
  }

  /** The targets of one chunk, or undefined when they are gone (expired, or removed once queued). */
  async getTargets(batchId: string, chunk: number): Promise<StoredTarget[] | undefined> {
    const data = await this.records.get(BatchStore.chunkKey(batchId, chunk));
    return data ? decodeTargetChunk(data) : undefined;
  }

  /** Removes the targets once every item is queued. */
  async deleteTargets(batchId: string, total: number): Promise<void> {
    const chunks = Math.ceil(total / TARGETS_PER_CHUNK);
    await Promise.all(Array.from({ length: chunks }, (_, chunk) => this.records.delete(BatchStore.chunkKey(batchId, chunk))));
  }

  async putQueuedCount(batchId: string, queued: number): Promise<void> {
    await this.records.put(BatchStore.queuedKey(batchId), encodeQueuedCount(queued));
  }

  /** How many items are queued; undefined for a batch that keeps no count (queued whole before it was answered). */
  async queuedCount(batchId: string): Promise<number | undefined> {
    const data = await this.records.get(BatchStore.queuedKey(batchId));
    return data ? decodeQueuedCount(data) : undefined;
  }

  /**
   * Queues the batch's spool job (once: a second add is a no-op), `queued`: the first items, queued
   * beside it (enqueue). QueueFullError when the queue is full.
   */
  addSpool(batchId: string, total: number, queued = 0): Promise<void> {
    return this.queue.add(BATCH_SUBJECTS.item(batchId), encodeBatchSpool(batchId, total, queued), `${batchId}.spool`);
  }

  /** How many more items the queue takes now. */
  room(): Promise<number> {
    return this.queue.room();
  }

  /**
   * Queues the items, ENQUEUE_WINDOW publishes at a time; returns how many were queued before the
   * queue filled (QueueFullError) or anything else failed (the error), all of them otherwise.
   */
  async enqueue(items: readonly BatchItem[]): Promise<{ queued: number; error?: unknown }> {
    let queued = 0;
    for (let start = 0; start < items.length; start += ENQUEUE_WINDOW) {
      const window = items.slice(start, start + ENQUEUE_WINDOW);
      const results = await Promise.allSettled(window.map((item) => this.queue.add(BATCH_SUBJECTS.item(item.batchId), encodeBatchItem(item), `${item.batchId}.${item.index}`)));
      const failed = results.findIndex((r) => r.status === "rejected");
      if (failed >= 0) return { queued: queued + failed, error: (results[failed] as PromiseRejectedResult).reason };
      queued += window.length;
    }
    return { queued };
  }

  take(max: number, expiresMs: number): AsyncIterable<WorkItem> {
    return this.queue.take(max, expiresMs);
  }

  /** Stores an item's report once: a second report of the same item is dropped. */
  async appendReport(batchId: string, report: BatchItemReport): Promise<{ duplicate: boolean }> {
    const { duplicate } = await this.reports.append(BATCH_SUBJECTS.report(batchId), BatchItemReport.encode(report).finish(), `${batchId}.${report.index}`);
    return { duplicate };
  }

  reportedCount(batchId: string): Promise<number> {
    return this.reports.count(BATCH_SUBJECTS.report(batchId));
  }

  lastSequence(batchId: string): Promise<number> {
    return this.reports.lastSequence(BATCH_SUBJECTS.report(batchId));
  }

  /** The batch's reports after `after`, in order, then as they land; each with its sequence. */
  async *follow(batchId: string, after: number, signal: AbortSignal): AsyncIterable<{ report: BatchItemReport; pending: number }> {
    for await (const record of this.reports.follow(BATCH_SUBJECTS.report(batchId), after, signal)) {
      let report: BatchItemReport;
      try {
        report = BatchItemReport.decode(record.data);
      } catch {
        continue; // not ours: nothing else writes there with the coordinators' permissions
      }
      yield { report: { ...report, sequence: record.sequence }, pending: record.pending };
    }
  }
}
