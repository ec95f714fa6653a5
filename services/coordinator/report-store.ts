// Where finished probe reports live, for GetProbe and for idempotent requests: a JetStream KV
// bucket with a TTL when NATS has JetStream (shared by every coordinator replica), a bounded
// in-memory store otherwise (embedded mode, or a NATS server without JetStream).
import { createHash } from "node:crypto";
import type { Bus, KeyValueStore } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { ProbeReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { encodeOnce } from "../../lib/encode-once.js";
import type { ServedRegionsStore } from "./served-regions.js";

/** What an idempotency key names: the probe it started, and the request it was first used with. */
export interface IdempotencyRecord {
  probeId: string;
  /**
   * The caller-scoped canonical request (probe-service.ts canonicalRequestKey): the same key with
   * another request is refused. Undefined in a record written before it was kept.
   */
  request?: string;
}

export interface ReportStore {
  readonly kind: "kv" | "memory";
  /** Stores a report under its probe id, replacing one stored before. */
  put(report: ProbeReport): Promise<void>;
  /** The report, or undefined when unknown or expired. */
  get(probeId: string): Promise<ProbeReport | undefined>;
  /**
   * Remembers which probe an idempotency key started, and for which request. Last writer wins: the
   * KV interface has no create-if-absent, so two concurrent first requests with one key may both run.
   */
  putIdempotency(key: string, record: IdempotencyRecord): Promise<void>;
  getIdempotency(key: string): Promise<IdempotencyRecord | undefined>;
}

export const DEFAULT_MAX_REPORTS = 1000;
export const REPORT_BUCKET = "smtpprobe-reports";

export class ReportStoreError extends Error {
  override readonly name = "ReportStoreError";
  constructor(
    message: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface MemoryReportStoreOptions {
  /** Reports kept at most; the oldest goes first. Idempotency keys are bounded the same. */
  maxReports?: number;
  ttlMs: number;
  now?: () => number;
}

/**
 * Bounded and expiring. Reports are kept encoded, so what `get` returns is a copy, the same as
 * from the KV store, and a caller's later changes to a stored report do not reach the store.
 */
export class MemoryReportStore implements ReportStore {
  readonly kind = "memory" as const;
  private readonly reports: ExpiringMap<Uint8Array>;
  private readonly keys: ExpiringMap<IdempotencyRecord>;

  constructor(options: MemoryReportStoreOptions) {
    const maxEntries = options.maxReports ?? DEFAULT_MAX_REPORTS;
    if (!(Number.isInteger(maxEntries) && maxEntries > 0)) throw new RangeError(`maxReports must be a positive integer, not ${maxEntries}`);
    if (!(options.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, not ${options.ttlMs}`);
    const now = options.now ?? Date.now;
    this.reports = new ExpiringMap(maxEntries, options.ttlMs, now);
    this.keys = new ExpiringMap(maxEntries, options.ttlMs, now);
  }

  async put(report: ProbeReport): Promise<void> {
    this.reports.set(report.probeId, encodeOnce(ProbeReport, report));
  }

  async get(probeId: string): Promise<ProbeReport | undefined> {
    const bytes = this.reports.get(probeId);
    return bytes && ProbeReport.decode(bytes);
  }

  async putIdempotency(key: string, record: IdempotencyRecord): Promise<void> {
    this.keys.set(key, { ...record });
  }

  async getIdempotency(key: string): Promise<IdempotencyRecord | undefined> {
    const record = this.keys.get(key);
    return record && { ...record };
  }

  /** Live entries, for tests and metrics. */
  get size(): number {
    return this.reports.size;
  }
}

/** Insertion-ordered (a Map), so the oldest entry is the first: it is evicted or expires first. */
class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    this.purgeExpired();
    return this.entries.size;
  }

  set(key: string, value: V): void {
    this.purgeExpired();
    this.entries.delete(key); // a replaced entry becomes the newest
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  private purgeExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break; // the rest are newer
      this.entries.delete(key);
    }
  }
}

/** Probe ids that are KV key tokens as they are (UUIDs are); anything else is hashed. */
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The KV key of a report. A JetStream KV key is dot-separated tokens of `[-/_=.a-zA-Z0-9]`; GetProbe
 * passes a caller's string, so an id that is not a plain token is hashed (the "sha256." prefix
 * cannot collide with a plain id, which has no dot).
 */
export function reportKey(probeId: string): string {
  return SAFE_ID.test(probeId) ? `report.${probeId}` : `report.sha256.${sha256Hex(probeId)}`;
}

/** Idempotency keys are the caller's free text: always hashed. */
export function idempotencyKey(key: string): string {
  return `idempotency.${sha256Hex(key)}`;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The KV key of the regions agents have served (served-regions.ts), kept beside the reports. */
export const SERVED_REGIONS_KEY = "regions.served";

/**
 * Reports protobuf-encoded in a JetStream KV bucket; the bucket's TTL expires them. The bucket also
 * keeps the regions agents have served (a JSON list), the one thing a restarted coordinator needs
 * to tell a region whose agents went away from one nobody has served.
 */
export class KvReportStore implements ReportStore, ServedRegionsStore {
  readonly kind = "kv" as const;

  constructor(private readonly kv: KeyValueStore) {}

  async put(report: ProbeReport): Promise<void> {
    await this.kv.put(reportKey(report.probeId), encodeOnce(ProbeReport, report));
  }

  async get(probeId: string): Promise<ProbeReport | undefined> {
    const key = reportKey(probeId);
    const bytes = await this.kv.get(key);
    if (!bytes) return undefined;
    try {
      return ProbeReport.decode(bytes);
    } catch (error) {
      throw new ReportStoreError(`the stored report ${key} cannot be decoded`, key, { cause: error });
    }
  }

  async putIdempotency(key: string, record: IdempotencyRecord): Promise<void> {
    await this.kv.put(idempotencyKey(key), new TextEncoder().encode(JSON.stringify({ probeId: record.probeId, request: record.request })));
  }

  async getIdempotency(key: string): Promise<IdempotencyRecord | undefined> {
    const kvKey = idempotencyKey(key);
    const bytes = await this.kv.get(kvKey);
    return bytes && decodeIdempotencyRecord(new TextDecoder().decode(bytes), kvKey);
  }

  async putServedRegions(regions: string[]): Promise<void> {
    await this.kv.put(SERVED_REGIONS_KEY, new TextEncoder().encode(JSON.stringify(regions)));
  }

  /** The list as stored; its entries are checked by the reader (served-regions.ts). */
  async getServedRegions(): Promise<string[] | undefined> {
    const bytes = await this.kv.get(SERVED_REGIONS_KEY);
    if (!bytes) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      throw new ReportStoreError(`the stored ${SERVED_REGIONS_KEY} is not JSON`, SERVED_REGIONS_KEY, { cause: error });
    }
    if (!Array.isArray(value)) throw new ReportStoreError(`the stored ${SERVED_REGIONS_KEY} is not a list`, SERVED_REGIONS_KEY);
    return value.filter((v): v is string => typeof v === "string");
  }
}

/** JSON; a plain probe id is a record written before the request was kept beside it. */
function decodeIdempotencyRecord(text: string, key: string): IdempotencyRecord {
  if (!text.startsWith("{")) return { probeId: text };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ReportStoreError(`the stored idempotency record ${key} is not JSON`, key, { cause: error });
  }
  const record = value as { probeId?: unknown; request?: unknown };
  if (typeof record.probeId !== "string" || (record.request !== undefined && typeof record.request !== "string")) {
    throw new ReportStoreError(`the stored idempotency record ${key} has no probe id`, key);
  }
  return record.request === undefined ? { probeId: record.probeId } : { probeId: record.probeId, request: record.request };
}

export interface OpenReportStoreOptions {
  ttlMs: number;
  /** The KV bucket's size bound. */
  maxBytes: number;
  /** The memory store's bound. */
  maxReports?: number;
  bucket?: string;
  logger?: Logger;
}

/**
 * The KV store when the bus gives a KV bucket (NATS with JetStream), the memory store otherwise;
 * the store's `kind` says which, and the logger says why.
 */
export async function openReportStore(bus: Bus, options: OpenReportStoreOptions): Promise<ReportStore> {
  const bucket = options.bucket ?? REPORT_BUCKET;
  let kv: KeyValueStore | undefined;
  try {
    kv = await bus.keyValue(bucket, { ttlMs: options.ttlMs, maxBytes: options.maxBytes });
  } catch (error) {
    options.logger?.warn({ err: error, bucket }, "could not open the KV bucket for reports");
  }
  if (kv) {
    options.logger?.info({ store: "kv", bucket, ttlMs: options.ttlMs }, "reports are stored in a JetStream KV bucket");
    return new KvReportStore(kv);
  }
  const store = new MemoryReportStore({ maxReports: options.maxReports, ttlMs: options.ttlMs });
  const why = bus.kind === "memory" ? "embedded mode" : "NATS has no JetStream";
  // With several replicas, a report is then only found on the replica that ran the probe.
  options.logger?.[bus.kind === "memory" ? "info" : "warn"]({ store: "memory", why, maxReports: options.maxReports ?? DEFAULT_MAX_REPORTS, ttlMs: options.ttlMs }, `reports are kept in memory (${why})`);
  return store;
}
