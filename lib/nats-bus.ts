import {
  connect,
  createInbox,
  Events,
  RequestStrategy,
  type ConnectionOptions,
  type KV,
  type Msg,
  type NatsConnection,
  type ServiceMsg,
} from "nats";
import type { Bus, BusMessage, BusSubscription, DiscoveredService, KeyValueStore, ReplyEvent, ServedService, ServiceSpec } from "./bus.js";

export interface NatsBusOptions {
  servers: string;
  name: string;
  /** A NATS credentials file (JWT + NKey). */
  credsFile?: string;
  /** TLS: CA to trust, and a client certificate and key for mutual TLS. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** How long the first connection may take before start-up fails. */
  connectTimeoutMs?: number;
}

const DRAIN_TIMEOUT_MS = 5000;

/** The only module that imports `nats`: a move to the v3 `@nats-io/*` packages touches this file. */
export async function connectNatsBus(options: NatsBusOptions): Promise<Bus> {
  const connectionOptions: ConnectionOptions = {
    servers: options.servers.split(",").map((s) => s.trim()),
    name: options.name,
    timeout: options.connectTimeoutMs ?? 5000,
    // Reconnect forever, quickly: the service outlives a NATS restart.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 10_000,
  };
  if (options.credsFile) {
    const { credsAuthenticator } = await import("nats");
    const { readFile } = await import("node:fs/promises");
    connectionOptions.authenticator = credsAuthenticator(await readFile(options.credsFile));
  }
  if (options.tls) {
    connectionOptions.tls = { caFile: options.tls.caFile, certFile: options.tls.certFile, keyFile: options.tls.keyFile };
  }
  const nc = await connect(connectionOptions);
  return new NatsBus(nc);
}

class NatsBus implements Bus {
  readonly kind = "nats" as const;
  private connected = true;
  private replyMux: string | undefined;
  private nextToken = 0;
  private readonly replyHandlers = new Map<string, (event: ReplyEvent) => void>();
  private readonly listeners = new Set<(connected: boolean) => void>();

  constructor(private readonly nc: NatsConnection) {
    void this.watchStatus();
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(subject, data);
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, options: { queue?: string } = {}): BusSubscription {
    const sub = this.nc.subscribe(subject, {
      queue: options.queue,
      callback: (error, msg) => {
        if (!error) handler(toBusMessage(msg));
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  /**
   * One wildcard subscription serves every request's replies (`<inbox>.<token>`), as nats.js does
   * for its own requests: a subscription per request would cost a SUB and an UNSUB on the
   * critical path of every task.
   */
  request(subject: string, data: Uint8Array, onReply: (event: ReplyEvent) => void): BusSubscription {
    this.replyMux ??= this.startReplyMux();
    const token = String((this.nextToken += 1));
    this.replyHandlers.set(token, onReply);
    this.nc.publish(subject, data, { reply: `${this.replyMux}.${token}` });
    return { unsubscribe: () => void this.replyHandlers.delete(token) };
  }

  private startReplyMux(): string {
    const prefix = createInbox();
    this.nc.subscribe(`${prefix}.*`, {
      callback: (error, msg) => {
        if (error) return;
        const handler = this.replyHandlers.get(msg.subject.slice(prefix.length + 1));
        if (!handler) return;
        // The server answers 503 when nothing subscribes to the subject (no responders).
        if (msg.headers?.hasError && msg.headers.code === 503) handler({ kind: "no_responders" });
        else handler({ kind: "message", data: msg.data });
      },
    });
    return prefix;
  }

  async serve(spec: ServiceSpec): Promise<ServedService> {
    const service = await this.nc.services.add({
      name: spec.name,
      version: spec.version,
      description: spec.description,
      metadata: spec.metadata,
      queue: spec.endpoint.queue,
      statsHandler: async () => spec.stats(),
    });
    service.addEndpoint(spec.endpoint.name, {
      subject: spec.endpoint.subject,
      queue: spec.endpoint.queue,
      handler: (error, msg: ServiceMsg) => {
        if (!error) spec.endpoint.handler(toBusMessage(msg));
      },
    });
    // The endpoint's subscription must reach the server before anyone is told the agent serves.
    await this.nc.flush();
    return { id: service.info().id, stop: async () => void (await service.stop()) };
  }

  async discover(name: string, timeoutMs: number): Promise<DiscoveredService[]> {
    if (this.nc.isClosed() || !this.connected) return [];
    const client = this.nc.services.client({ maxWait: timeoutMs, strategy: RequestStrategy.Timer });
    const found = new Map<string, DiscoveredService>();
    try {
      for await (const info of await client.info(name)) {
        found.set(info.id, { id: info.id, name: info.name, version: info.version, metadata: info.metadata ?? {}, started: "", data: undefined });
      }
      for await (const stats of await client.stats(name)) {
        const entry = found.get(stats.id);
        if (entry) {
          entry.started = stats.started;
          entry.data = stats.endpoints?.[0]?.data;
        }
      }
    } catch {
      // No responders or a timeout: nobody (more) to list.
    }
    return [...found.values()];
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async keyValue(bucket: string, options: { ttlMs: number; maxBytes: number }): Promise<KeyValueStore | undefined> {
    let kv: KV;
    try {
      kv = await this.nc.jetstream().views.kv(bucket, { ttl: options.ttlMs, max_bytes: options.maxBytes, history: 1 });
    } catch {
      return undefined; // no JetStream on this server
    }
    return {
      put: async (key, value) => void (await kv.put(key, value)),
      get: async (key) => {
        const entry = await kv.get(key);
        return entry && entry.operation === "PUT" ? entry.value : undefined;
      },
    };
  }

  /**
   * Drains when connected (bounded), then closes in any case: while disconnected, the client's
   * drain() returns without closing, and the reconnect loop would keep the process alive.
   */
  async drain(): Promise<void> {
    if (this.nc.isClosed()) return;
    if (this.connected) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)));
      await Promise.race([this.nc.drain().catch(() => undefined), bound]);
      clearTimeout(timer);
    }
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === Events.Disconnect) this.setConnected(false);
      else if (status.type === Events.Reconnect) this.setConnected(true);
    }
    this.setConnected(false); // closed
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    for (const listener of this.listeners) listener(connected);
  }
}

function toBusMessage(msg: Msg): BusMessage {
  return { subject: msg.subject, data: msg.data, respond: (data) => msg.respond(data) };
}
