// A typed promise wrapper over the generated BatchServiceClient for tests and benchmarks: every
// unary call has a deadline, a WatchBatch is collected as its events come, close() releases the
// channel.
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { type Batch, type BatchEvent, CreateBatchRequest, type WatchBatchRequest } from "../../gen/smtpprobe/v1/batch.js";
import { BatchServiceClient } from "../../lib/batch-service-client.js";

export interface BatchWatch {
  events: BatchEvent[];
  /** Resolves when the stream ends: cleanly (error undefined) or with a status. Never rejects. */
  done: Promise<{ events: BatchEvent[]; error?: ServiceError }>;
  cancel(): void;
}

export interface BatchApi {
  create(request: Parameters<typeof CreateBatchRequest.fromPartial>[0], deadlineMs?: number): Promise<Batch>;
  get(batchId: string): Promise<Batch>;
  cancel(batchId: string): Promise<Batch>;
  watch(request: Partial<WatchBatchRequest> & { batchId: string }, onEvent?: (event: BatchEvent) => void): BatchWatch;
  close(): void;
}

export function connectBatchApi(address: string, metadata: Metadata = new Metadata()): BatchApi {
  const client = new BatchServiceClient(address, credentials.createInsecure());
  const unary = <T>(call: (deadline: Date, callback: (error: ServiceError | null, value?: T) => void) => void, deadlineMs = 10_000): Promise<T> =>
    new Promise((resolve, reject) => call(new Date(Date.now() + deadlineMs), (error, value) => (error || value === undefined ? reject(error ?? new Error("no answer")) : resolve(value))));
  return {
    create: (request, deadlineMs = 30_000) => unary((deadline, cb) => client.createBatch(CreateBatchRequest.fromPartial(request), metadata, { deadline }, cb), deadlineMs),
    get: (batchId) => unary((deadline, cb) => client.getBatch({ batchId }, metadata, { deadline }, cb)),
    cancel: (batchId) => unary((deadline, cb) => client.cancelBatch({ batchId }, metadata, { deadline }, cb)),
    watch(request, onEvent) {
      const call = client.watchBatch({ afterSequence: 0, ...request }, metadata);
      const events: BatchEvent[] = [];
      call.on("data", (event: BatchEvent) => {
        events.push(event);
        onEvent?.(event);
      });
      const done = new Promise<{ events: BatchEvent[]; error?: ServiceError }>((resolve) => {
        call.on("error", (error: ServiceError) => resolve({ events, error }));
        call.on("end", () => resolve({ events }));
      });
      return { events, done, cancel: () => call.cancel() };
    },
    close: () => client.close(),
  };
}
