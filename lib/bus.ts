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
