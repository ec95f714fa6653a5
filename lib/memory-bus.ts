import { randomUUID } from "node:crypto";
import type { Bus, BusHeaders, BusMessage, BusSubscription, DiscoveredService, KeyValueStore, RecordLog, ReplyEvent, ServedService, ServiceSpec, WorkQueue } from "./bus.js";

interface Subscriber {
  handler: (msg: BusMessage) => void;
  queue?: string;
}

/**
 * The bus inside one process, for the embedded mode: subjects (with NATS's `*` and `>`), queue
 * groups (one member gets each message), reply subjects, "no responders", and a registry for
 * discovery. Delivery is asynchronous, as over a network, so no handler runs inside the
 * publisher's call.
 */
export class MemoryBus implements Bus {
  readonly kind = "memory" as const;
  private readonly subjects = new Map<string, Set<Subscriber>>();
  private readonly wildcards = new Map<string, Set<Subscriber>>();
  private readonly services = new Map<string, { spec: ServiceSpec; started: string }>();
  private closed = false;

  publish(subject: string, data: Uint8Array, reply?: string, headers: BusHeaders = {}): void {
    if (this.closed) return;
    const subscribers = this.subscribersOf(subject);
    const plain = subscribers.filter((s) => !s.queue);
    const groups = new Map<string, Subscriber[]>();
    for (const s of subscribers) if (s.queue) groups.set(s.queue, [...(groups.get(s.queue) ?? []), s]);
    const chosen = [...groups.values()].map((members) => members[Math.floor(Math.random() * members.length)]!);
    const msg: BusMessage = {
      subject,
      data,
      headers,
      canRespond: Boolean(reply),
      respond: (answer) => {
        if (!reply) return false;
        this.publish(reply, answer);
        return true;
      },
    };
    for (const s of [...plain, ...chosen]) setImmediate(() => s.handler(msg));
  }

  /** Exact subscriptions, and those with NATS wildcards: `*` one token, `>` the rest (at the end). */
  private subscribersOf(subject: string): Subscriber[] {
    const found = [...(this.subjects.get(subject) ?? [])];
    for (const [pattern, set] of this.wildcards) if (matchesSubject(pattern, subject)) found.push(...set);
    return found;
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, options: { queue?: string } = {}): BusSubscription {
    const subscriber: Subscriber = { handler, queue: options.queue };
    // Wildcard patterns apart: a publish looks its subject up, then tries the (few) patterns.
    const map = /(^|\.)(\*|>)(\.|$)/.test(subject) ? this.wildcards : this.subjects;
    const set = map.get(subject) ?? new Set();
    set.add(subscriber);
    map.set(subject, set);
    return {
      unsubscribe: () => {
        set.delete(subscriber);
        if (set.size === 0) map.delete(subject);
      },
    };
  }

  request(subject: string, data: Uint8Array, onReply: (event: ReplyEvent) => void, options: { headers?: BusHeaders } = {}): BusSubscription {
    const inbox = `_INBOX.${randomUUID()}`;
    const sub = this.subscribe(inbox, (msg) => onReply({ kind: "message", data: msg.data }));
    if (this.subscribersOf(subject).length === 0) setImmediate(() => onReply({ kind: "no_responders" }));
    else this.publish(subject, data, inbox, options.headers);
    return sub;
  }

  async serve(spec: ServiceSpec): Promise<ServedService> {
    const id = randomUUID();
    const sub = this.subscribe(spec.endpoint.subject, spec.endpoint.handler, { queue: spec.endpoint.queue });
    this.services.set(id, { spec, started: new Date().toISOString() });
    return {
      id,
      stop: async () => {
        sub.unsubscribe();
        this.services.delete(id);
      },
    };
  }

  async discover(name: string): Promise<DiscoveredService[]> {
    return [...this.services.entries()]
      .filter(([, s]) => s.spec.name === name)
      .map(([id, { spec, started }]) => ({
        id,
        name: spec.name,
        version: spec.version,
        metadata: spec.metadata,
        started,
        data: spec.stats(),
      }));
  }

  isConnected(): boolean {
    return !this.closed;
  }

  onConnectionChange(): () => void {
    return () => undefined; // always connected
  }

  async keyValue(): Promise<KeyValueStore | undefined> {
    return undefined; // the coordinator keeps reports in its bounded memory store
  }

  async workQueue(): Promise<WorkQueue | undefined> {
    return undefined; // batches need JetStream: their items must outlive the process
  }

  async recordLog(): Promise<RecordLog | undefined> {
    return undefined;
  }

  async drain(): Promise<void> {
    this.closed = true;
    this.subjects.clear();
    this.wildcards.clear();
    this.services.clear();
  }
}

function matchesSubject(pattern: string, subject: string): boolean {
  const want = pattern.split(".");
  const have = subject.split(".");
  for (let i = 0; i < want.length; i++) {
    if (want[i] === ">") return have.length > i;
    if (i >= have.length || (want[i] !== "*" && want[i] !== have[i])) return false;
  }
  return want.length === have.length;
}
