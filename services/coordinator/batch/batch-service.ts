// The BatchService: CreateBatch checks every target (as Probe would, and against the target
// policy), stores the targets, the batch's record and its spool job in JetStream and answers; the
// coordinators' workers (batch-worker.ts) queue one item per target from the stored targets and
// probe them; GetBatch, WatchBatch and CancelBatch read and change what
// JetStream holds, so any coordinator answers for any batch. A batch is its caller's: another
// caller's id is NOT_FOUND.
import { randomUUID } from "node:crypto";
import { status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from "@grpc/grpc-js";
import {
  BatchState,
  type Batch,
  type BatchEvent,
  type BatchServiceDefinition,
  type CancelBatchRequest,
  type CreateBatchRequest,
  type GetBatchRequest,
  type WatchBatchRequest,
} from "../../../gen/smtpprobe/v1/batch.js";
import { QueueFullError } from "../../../lib/bus.js";
import type { GrpcServerImplementation } from "../../../lib/grpc-service.js";
import type { Logger } from "../../../lib/logger.js";
import type { TargetPolicyChecker } from "../../../lib/policy/target-policy.js";
import { AuditTrail } from "../audit-trail.js";
import { callerOf } from "../caller-auth.js";
import { CallError, type CallTracker } from "../call-tracker.js";
import { invalidArgument, isUndecodable, notFound, permissionDenied, serviceError, UNDECODABLE, unavailable } from "../grpc-errors.js";
import { checkTargetEarly } from "../validate-request.js";
import { checkBatchRequest, FIRST_ITEMS, isBatchId, type BatchItem, type BatchRecord } from "./batch-request.js";
import type { BatchStore } from "./batch-store.js";

export interface BatchServiceDeps {
  /** undefined: no JetStream (embedded mode); every call is FAILED_PRECONDITION. */
  store: BatchStore | undefined;
  policy: TargetPolicyChecker;
  logger: Logger;
  /** The ProbeService's tracker: batch calls drain and end with the probe calls at shutdown. */
  calls: CallTracker;
  limits: { maxTargets: number; maxDeadlineMs: number };
}

/** While a watch runs, progress goes out at most this often. */
const PROGRESS_EVERY_MS = 1_000;

export interface BatchOperations {
  create(request: CreateBatchRequest, caller: string): Promise<Batch>;
  get(batchId: string, caller: string): Promise<Batch>;
  cancel(batchId: string, caller: string): Promise<Batch>;
  /**
   * Sends each item's report after `after` and progress to `send` until every item has one; the
   * next report is read only once `send` has resolved (the caller's stream took the last one).
   */
  watch(request: WatchBatchRequest, caller: string, send: (event: BatchEvent) => Promise<void>, signal: AbortSignal): Promise<void>;
}

export function createBatchOperations(deps: BatchServiceDeps): BatchOperations {
  const audit = new AuditTrail(deps.logger);

  const storeOf = (): BatchStore => {
    if (!deps.store) throw new CallError(serviceError(status.FAILED_PRECONDITION, "batches need JetStream: run the coordinator with --nats and a NATS server with JetStream"));
    return deps.store;
  };

  /** The caller's batch; `cached`: as read (or written) here in the last second, as a watch's progress uses it. */
  async function recordOf(batchId: string, caller: string, cached = false): Promise<BatchRecord> {
    if (!isBatchId(batchId)) throw new CallError(invalidArgument([{ field: "batch_id", description: "must be a batch id as returned by CreateBatch (a UUID)" }]));
    const record = await storeOf().getRecord(batchId, cached);
    if (!record || record.caller !== caller) throw new CallError(notFound("smtpprobe.v1.Batch", batchId, `no batch ${batchId} (unknown, another caller's, or expired)`));
    return record;
  }

  async function batchOf(record: BatchRecord): Promise<Batch> {
    const [counted, queued] = await Promise.all([storeOf().reportedCount(record.batchId), storeOf().queuedCount(record.batchId)]);
    const reported = Math.min(record.total, counted);
    const state = record.cancelled ? BatchState.BATCH_STATE_CANCELLED : reported >= record.total ? BatchState.BATCH_STATE_DONE : BatchState.BATCH_STATE_RUNNING;
    // No count: a batch whose items were all queued before it was answered.
    return { batchId: record.batchId, state, total: record.total, reported, createdAt: new Date(record.createdAt), options: record.options, queued: Math.max(reported, Math.min(record.total, queued ?? record.total)) };
  }

  return {
    async create(request, caller) {
      const store = storeOf();
      // Asked while the targets are checked: the answer is awaited only for a batch that passed.
      const room = store.room();
      room.catch(() => undefined);
      const checked = checkBatchRequest(request, deps.limits);
      if (!checked.ok) throw audit.refuse(caller, "invalid_argument", invalidArgument(checked.violations));
      for (const [index, item] of checked.value.items.entries()) {
        const denied = checkTargetEarly({ host: item.host, isIpLiteral: item.isIpLiteral, ports: item.probePorts }, deps.policy);
        if (!denied) continue;
        const field = `targets[${index}].${denied.field}`;
        throw audit.refuse(caller, denied.kind === "deny_list" ? "deny_list" : "permission_denied", permissionDenied(`${field}: ${denied.reason}`, field));
      }
      const total = checked.value.items.length;
      // Room for its items and its spool job.
      if ((await room) < total + 1) throw new CallError(queueFull(total));
      const record: BatchRecord = { batchId: randomUUID(), caller, total, createdAt: Date.now(), cancelled: false, options: checked.value.options };
      // Durable before the answer: the targets and the record, then the spool job and the first
      // items, published in that order (a worker takes the job before them, into a slot of its
      // own); the job queues the rest from the targets once one of the first is reported (any
      // coordinator's worker, this one's usually, takes them at once). The answer does not wait for
      // 5,000 items to be queued; the first are being probed by then.
      const targets = checked.value.items;
      const first = targets.slice(0, FIRST_ITEMS).map(({ host, ports }, index): BatchItem => ({ batchId: record.batchId, index, host, ports }));
      try {
        await Promise.all([store.putTargets(record.batchId, targets, first.length), store.putRecord(record)]);
        const spooled = store.addSpool(record.batchId, total, first.length);
        const firstQueued = store.enqueue(first);
        await Promise.all([
          spooled,
          firstQueued.then(({ error }) => {
            if (error !== undefined) throw error;
          }),
        ]);
      } catch (error) {
        // The caller gets no batch id. A record stored without its spool job would claim items
        // nobody queues: it is marked cancelled with no items (what else was stored expires).
        await store.putRecord({ ...record, total: 0, cancelled: true }).catch(() => undefined);
        deps.logger.warn({ err: error, batchId: record.batchId, total }, "a batch could not be stored");
        throw new CallError(error instanceof QueueFullError ? queueFull(total) : unavailable("JetStream did not take the batch; try again shortly", 1_000));
      }
      deps.logger.info({ batchId: record.batchId, caller, total }, "batch accepted");
      // Just stored: nothing reported, nothing counted as queued yet (the store is not asked again).
      return { batchId: record.batchId, state: BatchState.BATCH_STATE_RUNNING, total, reported: 0, queued: 0, createdAt: new Date(record.createdAt), options: record.options };
    },

    get: async (batchId, caller) => batchOf(await recordOf(batchId, caller)),

    async cancel(batchId, caller) {
      const record = await recordOf(batchId, caller);
      if (!record.cancelled) await storeOf().putRecord({ ...record, cancelled: true });
      return batchOf({ ...record, cancelled: true });
    },

    async watch(request, caller, send, signal) {
      const store = storeOf();
      const record = await recordOf(request.batchId, caller, true);
      const after = request.afterSequence;
      // The reports are asked for at once, while the progress is read.
      const reading = new AbortController();
      const stop = (): void => reading.abort();
      signal.addEventListener("abort", stop, { once: true });
      const reports = store.follow(record.batchId, after, reading.signal)[Symbol.asyncIterator]();
      const first = reports.next();
      first.catch(() => undefined);
      try {
        const progress = await batchOf(record);
        await send({ progress });
        // The watch ends with the batch's last report: once every item has one, the sequence of the
        // last is known, and the watch ends when it has sent that one. (A record's `pending` alone
        // cannot say it: the server counts records sent to this reader but still in its buffer.)
        // The last sequence is read after the count says every item has a report, never before: read
        // earlier, it could miss the last report.
        let lastOfBatch = progress.reported >= record.total ? await store.lastSequence(record.batchId) : undefined;
        if (lastOfBatch !== undefined && lastOfBatch <= after) return;
        let progressAt = Date.now();
        for (let next = await first; !next.done; next = await reports.next()) {
          const { report, pending } = next.value;
          await send({ item: report });
          const now = Date.now();
          if (lastOfBatch === undefined && (pending === 0 || now - progressAt >= PROGRESS_EVERY_MS)) {
            if ((await store.reportedCount(record.batchId)) >= record.total) lastOfBatch = await store.lastSequence(record.batchId);
          }
          const finished = lastOfBatch !== undefined && report.sequence >= lastOfBatch;
          if (!finished && now - progressAt < PROGRESS_EVERY_MS) continue;
          progressAt = now;
          await send({ progress: await batchOf((await store.getRecord(record.batchId, true)) ?? record) });
          if (finished) return;
        }
      } finally {
        reading.abort();
        signal.removeEventListener("abort", stop);
        await reports.return?.(undefined).catch(() => undefined);
      }
    },
  };
}

function queueFull(total: number): ServiceError {
  return unavailable(`the batch queue has no room for ${total} more items now; try again when running batches have progressed`, 5_000);
}

/**
 * INVALID_ARGUMENT for bytes that are not the request (server.ts decodes tolerantly, so that such
 * a call gets this rather than grpc-js's INTERNAL); undefined for a request.
 */
function undecodable(request: object, type: string): ServiceError | undefined {
  if (!isUndecodable(request)) return undefined;
  return invalidArgument([{ field: "request", description: `is not a ${type} in protobuf encoding (${request[UNDECODABLE].slice(0, 100)})` }]);
}

/** The gRPC handlers on the operations, each tracked by the calls tracker (drain and end at shutdown). */
export function batchGrpcService(operations: BatchOperations, calls: CallTracker): GrpcServerImplementation<BatchServiceDefinition> {
  return {
    createBatch(call: ServerUnaryCall<CreateBatchRequest, Batch>, callback: sendUnaryData<Batch>) {
      const invalid = undecodable(call.request, "CreateBatchRequest");
      if (invalid) return callback(invalid);
      calls.serveUnary(callback, () => operations.create(call.request, callerOf(call.metadata)));
    },
    getBatch(call: ServerUnaryCall<GetBatchRequest, Batch>, callback: sendUnaryData<Batch>) {
      const invalid = undecodable(call.request, "GetBatchRequest");
      if (invalid) return callback(invalid);
      calls.serveUnary(callback, () => operations.get(call.request.batchId ?? "", callerOf(call.metadata)));
    },
    cancelBatch(call: ServerUnaryCall<CancelBatchRequest, Batch>, callback: sendUnaryData<Batch>) {
      const invalid = undecodable(call.request, "CancelBatchRequest");
      if (invalid) return callback(invalid);
      calls.serveUnary(callback, () => operations.cancel(call.request.batchId ?? "", callerOf(call.metadata)));
    },
    watchBatch(call: ServerWritableStream<WatchBatchRequest, BatchEvent>) {
      const invalid = undecodable(call.request, "WatchBatchRequest");
      if (invalid) {
        call.emit("error", invalid);
        return;
      }
      // A slow reader holds the watch back (write's own buffer is the only one), never the queue.
      const send = (event: BatchEvent): Promise<void> => {
        if (call.cancelled || !call.writable) return Promise.resolve();
        if (call.write(event)) return Promise.resolve();
        return new Promise((resolve) => {
          const done = (): void => {
            call.off("drain", done);
            call.off("close", done);
            resolve();
          };
          call.on("drain", done);
          call.on("close", done);
        });
      };
      calls.serve<void>(
        { ok: () => call.end(), fail: (error) => call.emit("error", error) },
        (signal) => operations.watch(call.request, callerOf(call.metadata), send, signal),
        call,
        "watch",
      );
    },
  };
}
