// `smtp-probe batch FILE --coordinator ADDR`: creates a batch of the file's targets on the
// coordinator (BatchService), then watches it: one line per item as its report lands (with --json
// the BatchItemReport in the protobuf JSON form, one per line), and on a terminal a progress line
// on stderr (count, rate, time left). `--resume BATCH_ID [--after SEQUENCE]` watches a batch
// created before, from the start or after the last item seen. The batch runs on the coordinators
// whatever happens to this command: Ctrl-C or a lost connection only stops the watch, and the
// message says how to resume.
import type { ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import { BatchItemReport, BatchItemStatus, BatchState, type Batch, type BatchEvent, type CreateBatchRequest } from "../gen/smtpprobe/v1/batch.js";
import { protoJson } from "../lib/proto-json.js";
import type { BatchFileTarget } from "./batch-file.js";
import { BatchRate, formatBatchProgress } from "./batch-progress.js";
import { callFailureReporter } from "./call-failure-output.js";
import type { CheckDeps } from "./check-command.js";
import type { CoordinatorAddress } from "./coordinator-address.js";
import type { CoordinatorCredentials } from "./coordinator-credentials.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { callMetadata, createBatchClient } from "./grpc-client.js";

export interface BatchRunRequest {
  coordinator: CoordinatorAddress;
  credentials: CoordinatorCredentials;
  /** A new batch of these targets; or `resume`. */
  targets?: BatchFileTarget[];
  /** The shared options of a new batch (ports, regions, TLS modes). */
  options?: CreateBatchRequest["options"];
  resume?: { batchId: string; after: number };
  json: boolean;
}

/** CreateBatch stores up to 10,000 targets in JetStream before it answers: seconds, not minutes. */
export const CREATE_TIMEOUT_MS = 60_000;
/** The progress line is redrawn at most this often. */
const PROGRESS_EVERY_MS = 100;

export async function runBatch(request: BatchRunRequest, deps: CheckDeps): Promise<ExitCodeValue> {
  const client = createBatchClient(request.coordinator.target, request.credentials);
  const metadata = callMetadata(request.credentials);
  const failed = callFailureReporter(request, false, deps);
  try {
    let batchId: string;
    let after = 0;
    if (request.resume) {
      ({ batchId, after } = request.resume);
    } else {
      const created = await new Promise<{ batch: Batch } | { error: ServiceError }>((resolve) => {
        const targets = (request.targets ?? []).map((t) => ({ host: t.host, ports: t.ports }));
        client.createBatch({ targets, options: request.options }, metadata, { deadline: Date.now() + CREATE_TIMEOUT_MS }, (error, batch) =>
          resolve(error || !batch ? { error: error! } : { batch }),
        );
      });
      if ("error" in created) return await failed(created.error, CREATE_TIMEOUT_MS);
      batchId = created.batch.batchId;
      deps.stderr.write(`batch ${batchId}: ${created.batch.total} targets queued (resume the watch with --resume ${batchId})\n`);
    }
    return await watch(client.watchBatch({ batchId, afterSequence: after }, metadata), batchId, after, request.json, deps, failed);
  } finally {
    client.close();
  }
}

async function watch(
  stream: ClientReadableStream<BatchEvent>,
  batchId: string,
  after: number,
  json: boolean,
  deps: CheckDeps,
  failed: (error: ServiceError, timeoutMs: number) => Promise<ExitCodeValue>,
): Promise<ExitCodeValue> {
  const tty = deps.stderr.isTTY === true;
  const rate = new BatchRate();
  let total = 0;
  let done = 0;
  let lastSequence = after;
  let drawnAt = 0;
  const counts = { probed: 0, refused: 0, cancelled: 0 };
  const draw = (force = false): void => {
    const now = Date.now();
    if (!tty || (!force && now - drawnAt < PROGRESS_EVERY_MS)) return;
    drawnAt = now;
    deps.stderr.write(`\r\x1b[K${formatBatchProgress(done, total, rate.perSecond())}`);
  };
  const clearLine = (): void => {
    if (tty) deps.stderr.write("\r\x1b[K");
  };
  const cancel = (): void => stream.cancel();
  deps.signal.addEventListener("abort", cancel, { once: true });
  const ended = await new Promise<{ error?: ServiceError; last?: Batch }>((resolve) => {
    let last: Batch | undefined;
    stream.on("data", (event: BatchEvent) => {
      if (event.progress) {
        last = event.progress;
        total = event.progress.total;
        // Resumed, the items an earlier watch saw are not sent again: the coordinator's count is
        // taken as it comes (about once a second), counted up by the items between.
        if (after > 0) done = event.progress.reported;
      }
      const item = event.item;
      if (!item) return draw();
      done = Math.min(total || Number.POSITIVE_INFINITY, done + 1);
      lastSequence = item.sequence;
      rate.mark(Date.now(), done);
      if (item.status === BatchItemStatus.BATCH_ITEM_STATUS_PROBED) counts.probed += 1;
      else if (item.status === BatchItemStatus.BATCH_ITEM_STATUS_REFUSED) counts.refused += 1;
      else counts.cancelled += 1;
      clearLine();
      deps.stdout.write(json ? `${JSON.stringify(protoJson("smtpprobe.v1.BatchItemReport", BatchItemReport.encode(item).finish()))}\n` : `${formatItem(item)}\n`);
      draw(true);
    });
    stream.on("error", (error: ServiceError) => resolve({ error, last }));
    stream.on("end", () => resolve({ last }));
  });
  deps.signal.removeEventListener("abort", cancel);
  clearLine();
  const resume = `smtp-probe batch --resume ${batchId} --after ${lastSequence}`;
  if (deps.signal.aborted) {
    deps.stderr.write(`batch ${batchId}: the watch stopped; the batch goes on. Resume: ${resume}\n`);
    return ExitCode.interrupted;
  }
  if (ended.error) {
    const code = await failed(ended.error, 0);
    deps.stderr.write(`batch ${batchId}: the batch goes on at the coordinators. Resume: ${resume}\n`);
    return code;
  }
  const state = ended.last?.state === BatchState.BATCH_STATE_CANCELLED ? "cancelled" : "done";
  deps.stderr.write(`batch ${batchId} ${state}: ${counts.probed} probed, ${counts.refused} refused, ${counts.cancelled} cancelled in this watch\n`);
  return ExitCode.ok;
}

/** "mx.example.com: Port 25 is open from eu-west, us-east." or "... refused: why" / "... cancelled". */
export function formatItem(item: BatchItemReport): string {
  if (item.status === BatchItemStatus.BATCH_ITEM_STATUS_REFUSED) return `${item.host}: refused: ${item.error}`;
  if (item.status === BatchItemStatus.BATCH_ITEM_STATUS_CANCELLED) return `${item.host}: cancelled (the batch was cancelled before it was probed)`;
  const verdicts = item.report?.comparison?.verdicts.map((v) => v.summary) ?? [];
  return `${item.host}: ${verdicts.join(" ") || "no verdict"}`;
}
