// A CreateBatchRequest checked, and the records a batch keeps in JetStream: the batch itself (its
// caller, size, shared options, whether it was cancelled) and one work item per target. Each item's
// ProbeRequest is the shared options with the target's host and ports, checked here as a Probe call
// would check it, so that a batch with a bad target is refused whole, naming the target. Pure.
import type { BatchTarget, CreateBatchRequest } from "../../../gen/smtpprobe/v1/batch.js";
import { ProbeRequest } from "../../../gen/smtpprobe/v1/probe_service.js";
import { checkProbeHost, validateProbeRequest, type FieldViolation, type RequestLimits, type ValidationResult } from "../validate-request.js";
import { isCount, parseStoredObject } from "../stored-json.js";

/** Violations reported at most for one batch: the first ones say enough. */
const MAX_VIOLATIONS = 20;

export interface CheckedBatch {
  /** The shared options as accepted (host and idempotency key empty). */
  options: ProbeRequest;
  /** One per target, in order: its host as validation made it, its ports as given, the ports it probes. */
  items: CheckedTarget[];
}

export interface CheckedTarget {
  /** Lower-case A-label form, or an IP literal without brackets. */
  host: string;
  isIpLiteral: boolean;
  /** As the target gave them (empty: the options'). */
  ports: number[];
  /** The ports probed: the target's, else the options', else the default. */
  probePorts: number[];
}

/**
 * A valid host name standing in for the targets' hosts while the rest of an item's request is
 * checked: without mx, nothing else in a request depends on its host.
 */
const TEMPLATE_HOST = "batch-target.example";

export type BatchCheck = { ok: true; value: CheckedBatch } | { ok: false; violations: FieldViolation[] };

/** The item's request: the shared options with the target's host, and its ports when it has any. */
export function itemRequest(options: ProbeRequest, target: Pick<BatchTarget, "host" | "ports">): ProbeRequest {
  return ProbeRequest.fromPartial({ ...options, host: target.host, ports: target.ports.length > 0 ? target.ports : options.ports, idempotencyKey: "" });
}

export function checkBatchRequest(request: CreateBatchRequest, limits: RequestLimits & { maxTargets: number }): BatchCheck {
  const violations: FieldViolation[] = [];
  const targets = request.targets ?? [];
  if (targets.length === 0) violations.push({ field: "targets", description: "is empty: give at least one target" });
  if (targets.length > limits.maxTargets) violations.push({ field: "targets", description: `at most ${limits.maxTargets} targets in one batch, got ${targets.length}` });
  const options = ProbeRequest.fromPartial(request.options ?? {});
  if (options.host !== "") violations.push({ field: "options.host", description: "must be empty: each target names its host" });
  if (options.idempotencyKey !== "") violations.push({ field: "options.idempotency_key", description: "must be empty: a batch is created once per call" });
  if (violations.length > 0) return { ok: false, violations };

  // Every item is checked as Probe would check its request. The requests differ only in host and
  // ports: without mx (where the host meets the options) the rest is checked once per list of
  // ports, and each target's host alone; the violations are the same, in the same order.
  const items: CheckedTarget[] = [];
  const byPorts = new Map<string, ValidationResult>();
  for (const [index, target] of targets.entries()) {
    let checked: { ok: true; host: string; isIpLiteral: boolean; probePorts: number[] } | { ok: false; violations: FieldViolation[] };
    if (options.mx) {
      const full = validateProbeRequest(itemRequest(options, target), limits);
      checked = full.ok ? { ok: true, host: full.value.host, isIpLiteral: full.value.isIpLiteral, probePorts: full.value.ports } : full;
    } else {
      const key = target.ports.join(",");
      let rest = byPorts.get(key);
      if (!rest) byPorts.set(key, (rest = validateProbeRequest(itemRequest(options, { host: TEMPLATE_HOST, ports: target.ports }), limits)));
      const host = checkProbeHost(target.host);
      if (host.ok && rest.ok) checked = { ok: true, host: host.host, isIpLiteral: host.isIpLiteral, probePorts: rest.value.ports };
      else checked = { ok: false, violations: [...(host.ok ? [] : host.violations), ...(rest.ok ? [] : rest.violations)] };
    }
    if (checked.ok) {
      items.push({ host: checked.host, isIpLiteral: checked.isIpLiteral, ports: target.ports, probePorts: checked.probePorts });
      continue;
    }
    for (const violation of checked.violations) {
      violations.push({ field: itemField(index, target, violation.field), description: violation.description });
    }
    if (violations.length >= MAX_VIOLATIONS) break;
  }
  if (violations.length > 0) return { ok: false, violations: dedupe(violations).slice(0, MAX_VIOLATIONS) };
  return { ok: true, value: { options, items } };
}

/** A field of an item's request as a field of the CreateBatchRequest: the target's, or the shared options'. */
function itemField(index: number, target: BatchTarget, field: string): string {
  if (field === "host") return `targets[${index}].host`;
  if (field.startsWith("ports") && target.ports.length > 0) return `targets[${index}].${field}`;
  return `options.${field}`;
}

/** A shared option that is wrong is wrong for every target: said once. */
function dedupe(violations: FieldViolation[]): FieldViolation[] {
  const seen = new Set<string>();
  return violations.filter((v) => (seen.has(v.field) ? false : (seen.add(v.field), true)));
}

// ---- the records kept in JetStream ---------------------------------------------------------

/** The batch as the key-value bucket keeps it. */
export interface BatchRecord {
  batchId: string;
  caller: string;
  total: number;
  /** Date.now() milliseconds. */
  createdAt: number;
  cancelled: boolean;
  options: ProbeRequest;
}

/** One target waiting in the work queue. */
export interface BatchItem {
  batchId: string;
  index: number;
  host: string;
  ports: number[];
}

/**
 * The job of queueing a batch's items from its stored targets, waiting in the work queue beside the
 * items: whoever takes it queues them, and if that coordinator stops, the job is handed to another,
 * which goes on from the progress stored.
 */
export interface BatchSpool {
  batchId: string;
  spool: true;
  /** The batch's items (as its record says). */
  total: number;
  /** The first items, queued with the job by CreateBatch (0 in a job of an earlier version). */
  queued: number;
}

/**
 * A new batch's first items, queued by CreateBatch right after its spool job; the job queues the
 * rest once one of them is reported, or after a bound (batch-worker.ts). One: on the 2-core bench
 * machine the first report came soonest with the first probe alone (median 34-41 ms against 50-53
 * with four, bench/README.md); a slow first target holds the rest back by the bound at most.
 */
export const FIRST_ITEMS = 1;

/** A batch's targets are stored in chunks of this many (a chunk stays far below NATS's 1 MiB message bound). */
export const TARGETS_PER_CHUNK = 500;

/** One target as stored until its item is queued. */
export interface StoredTarget {
  host: string;
  ports: number[];
}

const BATCH_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isBatchId(text: string): boolean {
  return BATCH_ID.test(text);
}

export function encodeBatchRecord(record: BatchRecord): Uint8Array {
  return Buffer.from(JSON.stringify({ ...record, options: ProbeRequest.toJSON(record.options) }));
}

/** The record, or undefined when the bytes are not one (another writer, another version). */
export function decodeBatchRecord(data: Uint8Array): BatchRecord | undefined {
  const json = parseStoredObject(data);
  if (!json) return undefined;
  const { batchId, caller, total, createdAt, cancelled, options } = json;
  if (typeof batchId !== "string" || !isBatchId(batchId) || typeof caller !== "string" || typeof cancelled !== "boolean") return undefined;
  if (!isCount(total) || !isCount(createdAt) || typeof options !== "object" || options === null) return undefined;
  return { batchId, caller, total, createdAt, cancelled, options: ProbeRequest.fromJSON(options) };
}

export function encodeBatchItem(item: BatchItem): Uint8Array {
  return Buffer.from(JSON.stringify(item));
}

export function encodeBatchSpool(batchId: string, total: number, queued = 0): Uint8Array {
  return Buffer.from(JSON.stringify({ batchId, spool: true, total, queued } satisfies BatchSpool));
}

export function decodeBatchSpool(data: Uint8Array): BatchSpool | undefined {
  const json = parseStoredObject(data);
  if (!json || json.spool !== true || typeof json.batchId !== "string" || !isBatchId(json.batchId) || !isCount(json.total)) return undefined;
  const queued = json.queued ?? 0;
  if (!isCount(queued) || queued > json.total) return undefined;
  return { batchId: json.batchId, spool: true, total: json.total, queued };
}

/** Stored as [host, ports] pairs: a chunk of 500 is read at once. */
export function encodeTargetChunk(targets: readonly StoredTarget[]): Uint8Array {
  return Buffer.from(JSON.stringify(targets.map((t) => [t.host, t.ports])));
}

export function decodeTargetChunk(data: Uint8Array): StoredTarget[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(data).toString("utf8"));
  } catch {
    return undefined;
  }
  if (!Array.isArray(json)) return undefined;
  const targets: StoredTarget[] = [];
  for (const entry of json) {
    if (!Array.isArray(entry) || entry.length !== 2) return undefined;
    const [host, ports] = entry as unknown[];
    if (typeof host !== "string" || !Array.isArray(ports) || !ports.every((p) => isCount(p) && p <= 65535)) return undefined;
    targets.push({ host, ports: ports as number[] });
  }
  return targets;
}

/** How many of a batch's items are queued: a count, as text. */
export function encodeQueuedCount(queued: number): Uint8Array {
  return Buffer.from(String(queued));
}

export function decodeQueuedCount(data: Uint8Array): number | undefined {
  const text = Buffer.from(data).toString("utf8");
  const queued = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  return isCount(queued) ? queued : undefined;
}

export function decodeBatchItem(data: Uint8Array): BatchItem | undefined {
  const json = parseStoredObject(data);
  if (!json) return undefined;
  const { batchId, index, host, ports } = json;
  if (typeof batchId !== "string" || !isBatchId(batchId) || !isCount(index) || typeof host !== "string") return undefined;
  if (!Array.isArray(ports) || !ports.every((p) => isCount(p) && p <= 65535)) return undefined;
  return { batchId, index, host, ports: ports as number[] };
}
