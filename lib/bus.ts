/**
 * The messaging the coordinator and the agents need, behind our own narrow interface. Two
 * implementations: NATS (`nats-bus.ts`, the only module that imports the `nats` package) for the
 * distributed mode, and an in-process one (`memory-bus.ts`) for the embedded mode, so the agent
 * and the coordinator run the same code in both.
 */

export interface BusMessage {
  subject: string;
  data: Uint8Array;
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
  request(subject: string, data: Uint8Array, onReply: (event: ReplyEvent) => void): BusSubscription;
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

/** NATS subjects of the contract (lower-case dot tokens; regions are checked safe tokens). */
export const SUBJECTS = {
  task: (region: string): string => `smtpprobe.v1.probe.${checkToken(region)}`,
  cancel: (region: string): string => `smtpprobe.v1.cancel.${checkToken(region)}`,
  queue: (region: string): string => `smtpprobe-${checkToken(region)}`,
  agentService: "smtpprobe-agent",
} as const;

/** A region name is one safe subject token: lower-case letters, digits and hyphens. */
export const REGION_TOKEN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function checkToken(region: string): string {
  if (!REGION_TOKEN.test(region)) throw new RangeError(`not a safe region name: ${JSON.stringify(region)}`);
  return region;
}
