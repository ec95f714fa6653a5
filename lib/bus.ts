/**
 * The messaging the coordinator and the agents need, behind our own narrow interface. Two
 * implementations: NATS (`nats-bus.ts`, the only module that imports the `nats` package) for the
 * distributed mode, and an in-process one (`memory-bus.ts`) for the embedded mode, so the agent
 * and the coordinator run the same code in both.
 */

/**
 * Message headers: the probe's id and W3C trace context travel in them (BUS_HEADERS), so that one
 * grep follows a probe across processes. Bounded on receipt (MAX_HEADERS, MAX_HEADER_LENGTH).
 */
export type BusHeaders = Readonly<Record<string, string>>;

export const BUS_HEADERS = { probeId: "smtpprobe-probe-id", traceparent: "traceparent" } as const;
export const MAX_HEADERS = 16;
export const MAX_HEADER_LENGTH = 256;

export interface BusMessage {
  subject: string;
  data: Uint8Array;
  /** Empty when the message came without headers. */
  headers: BusHeaders;
  /** Whether the message came with a reply subject (respond() can send). */
  canRespond: boolean;
  /** Sends a message to the request's reply subject; false when there is none. */
  respond(data: Uint8Array): boolean;
}

export interface BusSubscription {
  unsubscribe(): void;
}

/** What comes back to a request's reply subject. */
export type ReplyEvent =
  | { kind: "message"; data: Uint8Array }
  /** Nobody subscribes to the subject: known at once, not after a timeout. */
  | { kind: "no_responders" };

export interface ServiceSpec {
  name: string;
  version: string;
  description: string;
  metadata: Record<string, string>;
  endpoint: {
    name: string;
    subject: string;
    /** Each message reaches one member of the queue group. */
    queue: string;
    handler: (msg: BusMessage) => void;
  };
  /** Live data published with the service's stats (in flight, capacity, egress...). */
  stats: () => unknown;
}

export interface ServedService {
  id: string;
  /** Stops taking messages; what is in flight goes on. */
  stop(): Promise<void>;
}

export interface DiscoveredService {
  id: string;
  name: string;
  version: string;
  metadata: Record<string, string>;
  /** ISO time the service started. */
  started: string;
  /** What the service's stats() returned. */
  data: unknown;
}

export interface KeyValueStore {
  put(key: string, value: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** The value with its revision (for update and a checked delete), or undefined when the key holds none. */
  entry(key: string): Promise<{ value: Uint8Array; revision: number } | undefined>;
  /** Writes the key only if it holds no value: true for the one writer that did (a claim), false for the others. */
  create(key: string, value: Uint8Array): Promise<boolean>;
  /**
   * Writes the key only if its revision is still `revision` (read with entry()): true for the one
   * writer that did, false when another wrote or deleted it since.
   */
  update(key: string, value: Uint8Array, revision: number): Promise<boolean>;
  /** Deletes the key; with `revision`, only if it is still that one (false when it was written since). */
  delete(key: string, revision?: number): Promise<boolean>;
  /** The keys holding a value; with a filter (`owner.abc.>`, `monitor.*`), those it matches only. */
  keys(filter?: string): Promise<string[]>;
  /**
   * Follows the keys `filter` matches: `entry` gets each key's current value (`undefined`: the key
   * was deleted), then every change, in order; `ready` is called once the values held when the
   * watch started have all been given. `ended` is called when the watch stops on its own (the
   * bucket or the connection gone for good): the watcher starts a new one. stop() ends it without
   * `ended`.
   */
  watch(filter: string, watcher: KeyWatcher): Promise<KeyWatch>;
}

export interface KeyWatcher {
  entry(key: string, value: Uint8Array | undefined): void;
  ready(): void;
  ended(error: unknown): void;
}

export interface KeyWatch {
  stop(): void;
}

/**
 * A durable queue of work items (a JetStream work-queue stream) with one taker shared by every
 * process that takes from it (a durable pull consumer): an item is handed to one taker at a time,
 * and given to another when its taker neither finishes it nor says it is still working within the
 * ack wait (a process that died).
 */
export interface WorkQueue {
  /**
   * Adds an item; an add repeated with the same id within the queue's duplicate window is a no-op.
   * Throws QueueFullError when the queue already holds its bound.
   */
  add(subject: string, data: Uint8Array, id: string): Promise<void>;
  /** How many more items the queue takes now. */
  room(): Promise<number>;
  /**
   * Up to `max` items, each as soon as it is handed out, for at most `expiresMs`; fewer (or none)
   * when no more wait.
   */
  take(max: number, expiresMs: number): AsyncIterable<WorkItem>;
}

export interface WorkItem {
  subject: string;
  data: Uint8Array;
  /** 1 the first time the item is handed out, more when it was handed out before. */
  deliveries: number;
  /** Finished: the item leaves the queue (resolves once the server has confirmed it). */
  done(): Promise<void>;
  /** Not now: the item is handed out again (to any taker) after delayMs. */
  retry(delayMs: number): void;
  /** Still working on it: the ack wait starts again. */
  working(): void;
  /** Removed without being done (an item that cannot be read). */
  drop(): void;
}

/** The work queue is at its bound: the caller should try again later. */
export class QueueFullError extends Error {
  override readonly name = "QueueFullError";
}

/**
 * An append-only log of records by subject (a JetStream stream with limits): each record has a
 * sequence, appends repeated with the same id within the duplicate window are no-ops, and a reader
 * follows a subject's records in order from any sequence.
 */
export interface RecordLog {
  append(subject: string, data: Uint8Array, id: string): Promise<{ sequence: number; duplicate: boolean }>;
  /** Records held for the subject. */
  count(subject: string): Promise<number>;
  /** The sequence of the subject's last record; 0 when it has none. */
  lastSequence(subject: string): Promise<number>;
  /** The subject's last record; undefined when it has none. */
  last(subject: string): Promise<Uint8Array | undefined>;
  /**
   * The subject's records after sequence `after` in order, then new ones as they are appended,
   * until the signal aborts; `pending` is how many more were there when the record was read.
   */
  follow(subject: string, after: number, signal: AbortSignal): AsyncIterable<{ sequence: number; data: Uint8Array; pending: number }>;
  /** Removes every record of the subject (the other subjects' stay). */
  purge(subject: string): Promise<void>;
}

export interface WorkQueueSpec {
  /** The stream's name (upper case, no dots). */
  name: string;
  /** The subjects it holds (a wildcard). */
  subjects: string;
  /** The durable consumer shared by every taker. */
  consumer: string;
  maxItems: number;
  maxAgeMs: number;
  /** An item handed out and neither finished nor worked on for this long is handed out again. */
  ackWaitMs: number;
}

export interface RecordLogSpec {
  name: string;
  subjects: string;
  maxAgeMs: number;
  maxBytes: number;
  /** Appends with the same id within this window are stored once. */
  duplicateWindowMs: number;
}

export interface Bus {
  readonly kind: "nats" | "memory";
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: (msg: BusMessage) => void, options?: { queue?: string }): BusSubscription;
  /**
   * Publishes with a reply subject of its own and hands every message sent back to `onReply`,
   * until the returned subscription is unsubscribed.
   */
  request(subject: string, data: Uint8Array, onReply: (event: ReplyEvent) => void, options?: { headers?: BusHeaders }): BusSubscription;
  /** Serves an endpoint as a discoverable service (the NATS services framework, "micro"). */
  serve(spec: ServiceSpec): Promise<ServedService>;
  /** Every live instance of a service that answers within `timeoutMs`. */
  discover(name: string, timeoutMs: number): Promise<DiscoveredService[]>;
  isConnected(): boolean;
  /** Called on every change of connection; returns a function that removes the listener. */
  onConnectionChange(listener: (connected: boolean) => void): () => void;
  /** A key-value bucket with a TTL, or undefined when the bus has no such store (no JetStream). */
  keyValue(bucket: string, options: { ttlMs: number; maxBytes: number }): Promise<KeyValueStore | undefined>;
  /** A durable work queue, or undefined when the bus has none (no JetStream). */
  workQueue(spec: WorkQueueSpec): Promise<WorkQueue | undefined>;
  /** A durable record log, or undefined when the bus has none (no JetStream). */
  recordLog(spec: RecordLogSpec): Promise<RecordLog | undefined>;
  /** Lets in-flight messages go out, then closes. */
  drain(): Promise<void>;
}

/** The first MAX_HEADERS headers, each value cut to MAX_HEADER_LENGTH: what a receiver keeps. */
export function boundHeaders(entries: Iterable<[string, string]>): BusHeaders {
  const out: Record<string, string> = {};
  let count = 0;
  for (const [key, value] of entries) {
    if (count++ >= MAX_HEADERS) break;
    out[key.toLowerCase().slice(0, MAX_HEADER_LENGTH)] = value.slice(0, MAX_HEADER_LENGTH);
  }
  return out;
}

/**
 * A task's heartbeat_ms is held within these bounds by the agent (a tiny one would flood the
 * coordinator); the coordinator's --heartbeat is refused outside them, since it declares an agent
 * lost after 3 heartbeats it would not send.
 */
export const HEARTBEAT_BOUNDS = { minMs: 50, maxMs: 60_000 } as const;

/** NATS subjects of the contract (lower-case dot tokens; regions are checked safe tokens). */
export const SUBJECTS = {
  task: (region: string): string => `smtpprobe.v1.probe.${checkToken(region)}`,
  cancel: (region: string): string => `smtpprobe.v1.cancel.${checkToken(region)}`,
  queue: (region: string): string => `smtpprobe-${checkToken(region)}`,
  /** An agent asks the coordinator for a connection slot (request), and gives it back (publish). */
  permit: (region: string): string => `smtpprobe.v1.permit.${checkToken(region)}`,
  /** What the coordinator's permit service subscribes to: every region's permit subject. */
  permitAll: "smtpprobe.v1.permit.*",
  permitQueue: "smtpprobe-permit",
  /** A domain check (DomainTask) for one agent of the region's queue group, answered once. */
  domain: (region: string): string => `smtpprobe.v1.domain.${checkToken(region)}`,
  agentService: "smtpprobe-agent",
} as const;

/** A region name is one safe subject token: lower-case letters, digits and hyphens. */
export const REGION_TOKEN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function checkToken(region: string): string {
  if (!REGION_TOKEN.test(region)) throw new RangeError(`not a safe region name: ${JSON.stringify(region)}`);
  return region;
}
