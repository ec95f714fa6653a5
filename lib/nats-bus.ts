import {
  AckPolicy,
  connect,
  DeliverPolicy,
  DiscardPolicy,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  createInbox,
  Events,
  headers as natsHeaders,
  RequestStrategy,
  type ConnectionOptions,
  type KV,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type ServiceMsg,
} from "nats";
import { randomHex } from "./random-hex.js";
import { createSecureContext } from "node:tls";
import { boundHeaders, MAX_HEADER_LENGTH, MAX_HEADERS, type BusHeaders } from "./bus.js";
import { QueueFullError } from "./bus.js";
import type { Bus, BusMessage, BusSubscription, DiscoveredService, KeyValueStore, KeyWatch, KeyWatcher, RecordLog, RecordLogSpec, ReplyEvent, ServedService, ServiceSpec, WorkItem, WorkQueue, WorkQueueSpec } from "./bus.js";
import { ConfigError, readSettingFile, UnavailableError } from "./config.js";
import { classifyNatsConnectError, redactNatsUrl, type NatsConnectVerdict } from "./nats-connect-errors.js";
import { SendBatch } from "./send-batch.js";

export interface NatsBusOptions {
  servers: string;
  name: string;
  /** A NATS credentials file (JWT + NKey). */
  credsFile?: string;
  /** User and password, as a server with users in its configuration file wants (deploy/nats/). */
  user?: string;
  /** A file holding the password (a mounted secret: it never shows in `ps`); trailing newlines are ignored. */
  passwordFile?: string;
  /**
   * The prefix of this connection's reply subjects (default `_INBOX`). Agents use
   * `_INBOX.agent.<region>`, so that their permission to subscribe to their own inbox does not
   * reach the coordinator's.
   */
  inboxPrefix?: string;
  /** TLS: CA to trust, and a client certificate and key for mutual TLS. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** How long one connection attempt may take. */
  connectTimeoutMs?: number;
  /**
   * Keep trying while NATS does not answer (refused, timed out, name not found): normal when a
   * process comes up before NATS. Without it, the first failure throws.
   */
  wait?: NatsWait;
  /**
   * A message came back on a reply subject of request() that nobody listens to (any more):
   * `late` when its request ended recently (deadline passed, task finished or retried),
   * `unknown_reply_subject` when this connection never made that reply subject (a forgery).
   */
  onDroppedReply?: (reason: DroppedReplyReason) => void;
}

export interface NatsWait {
  /** Between attempts; default NATS_RETRY_MS. */
  retryMs?: number;
  /** After each attempt that found no NATS server: for a log line. */
  onRetry(event: NatsRetry): void;
  /** Ends the waiting: connectNatsBus then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface NatsRetry {
  attempt: number;
  /** The URL(s), user and password taken out. */
  servers: string;
  /** "connection refused", "timed out", "host name not found", ... */
  problem: string;
  retryMs: number;
}

export type DroppedReplyReason = "late" | "unknown_reply_subject";

const DRAIN_TIMEOUT_MS = 5000;
/** Reply tokens of ended requests remembered to tell a late reply from a forged one. */
const MAX_ENDED_TOKENS = 4096;
/** Between first-connection attempts while NATS does not answer. */
export const NATS_RETRY_MS = 2000;

/**
 * The only module that imports `nats`: a move to the v3 `@nats-io/*` packages touches this file.
 * The files the settings name are read first, so that a missing one is named (UnreadableFileError)
 * instead of surfacing as a failed connection; a failure to connect is classified
 * (nats-connect-errors.ts): waited out when NATS is not there yet and `wait` is given, else thrown
 * as a ConfigError or UnavailableError naming the setting.
 */
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
    connectionOptions.authenticator = credsAuthenticator(new TextEncoder().encode(await readSettingFile("--nats-creds", options.credsFile)));
  }
  if (options.user !== undefined || options.passwordFile !== undefined) {
    if (options.user === undefined) throw new ConfigError("--nats-user", "is required with --nats-password-file");
    if (options.passwordFile === undefined) throw new ConfigError("--nats-password-file", "is required with --nats-user");
    connectionOptions.user = options.user;
    connectionOptions.pass = await readPasswordFile(options.passwordFile);
  }
  if (options.inboxPrefix !== undefined) connectionOptions.inboxPrefix = options.inboxPrefix;
  if (options.tls) connectionOptions.tls = await readTlsFiles(options.tls);
  const nc = await connectOrWait(connectionOptions, options);
  return new NatsBus(nc, options);
}

async function connectOrWait(connectionOptions: ConnectionOptions, options: NatsBusOptions): Promise<NatsConnection> {
  const context = { servers: options.servers, credsFile: options.credsFile, user: options.user, tls: options.tls };
  const retryMs = options.wait?.retryMs ?? NATS_RETRY_MS;
  for (let attempt = 1; ; attempt += 1) {
    options.wait?.signal?.throwIfAborted();
    let verdict: NatsConnectVerdict;
    try {
      return await connect(connectionOptions);
    } catch (error) {
      verdict = classifyNatsConnectError(error, context);
    }
    if (!verdict.retry) throw verdict.error;
    if (!options.wait) {
      throw new UnavailableError("--nats", `no NATS server answers at ${redactNatsUrl(options.servers)} (${verdict.problem}): start it, or correct the URL (--nats, SMTP_PROBE_NATS_URL)`);
    }
    options.wait.onRetry({ attempt, servers: redactNatsUrl(options.servers), problem: verdict.problem, retryMs });
    await sleep(retryMs, options.wait.signal);
  }
}

/** Resolves after ms, or rejects with the signal's reason when it fires first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The TLS files as PEM text, each read here so that one that cannot be read names its flag. */
async function readTlsFiles(files: NonNullable<NatsBusOptions["tls"]>): Promise<NonNullable<ConnectionOptions["tls"]>> {
  const tls: NonNullable<ConnectionOptions["tls"]> = {};
  if (files.caFile) tls.ca = await readSettingFile("--nats-ca", files.caFile);
  if (files.certFile) tls.cert = await readSettingFile("--nats-cert", files.certFile);
  if (files.keyFile) tls.key = await readSettingFile("--nats-key", files.keyFile);
  try {
    if (tls.ca !== undefined) createSecureContext({ ca: tls.ca });
  } catch (error) {
    throw new ConfigError("--nats-ca", `${files.caFile} is not a PEM CA certificate: ${(error as Error).message}`);
  }
  try {
    if (tls.cert !== undefined || tls.key !== undefined) createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (error) {
    throw new ConfigError("--nats-cert", `${files.certFile} and ${files.keyFile} are not a PEM certificate and its key: ${(error as Error).message}`);
  }
  return tls;
}

async function readPasswordFile(file: string): Promise<string> {
  const text = await readSettingFile("--nats-password-file", file);
  const password = text.replace(/[\r\n]+$/, "");
  if (password === "") throw new ConfigError("--nats-password-file", `${file} is empty`);
  return password;
}

/** Room kept for a message's headers when its size is checked against the server's bound before batching. */
const HEADER_ALLOWANCE = MAX_HEADERS * (2 * MAX_HEADER_LENGTH + 4) + 16;

class NatsBus implements Bus {
  readonly kind = "nats" as const;
  private connected = true;
  /**
   * Publishes, requests, replies and KV writes of one turn of the event loop go out in one socket
   * write (send-batch.ts). What would make nats.js throw is checked before queueing (canBatch),
   * and such a send runs at once, so its error reaches the sender as before. A send that still
   * fails in the batch met a connection closed meanwhile: lost like any message sent as the
   * connection went, and the status watch tells the listeners (onConnectionChange), which end
   * what waited for an answer.
   */
  private readonly batch = new SendBatch(() => undefined);
  private replyMux: string | undefined;
  private nextToken = 0;
  private readonly replyHandlers = new Map<string, (event: ReplyEvent) => void>();
  /** The KV writes waiting for JetStream's acknowledgement, by reply token (kvPut). */
  private readonly kvAcks = new Map<string, (event: ReplyEvent) => void>();
  private kvAckMux: string | undefined;
  /** Tokens of ended requests, oldest first (a Set keeps insertion order), bounded. */
  private readonly endedTokens = new Set<string>();
  private readonly listeners = new Set<(connected: boolean) => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: Pick<NatsBusOptions, "inboxPrefix" | "onDroppedReply"> = {},
  ) {
    void this.watchStatus();
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.nc.isClosed()) return;
    if (this.canBatch(data.length)) this.batch.add(() => this.nc.publish(subject, data));
    else this.nc.publish(subject, data);
  }

  /** Whether nats.js would take a message of `bytes` now: a closed or draining connection, or one over the server's bound, throws at once instead. */
  private canBatch(bytes: number): boolean {
    const maxPayload = this.nc.info?.max_payload;
    return !this.nc.isClosed() && !this.nc.isDraining() && (maxPayload === undefined || bytes + HEADER_ALLOWANCE <= maxPayload);
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, options: { queue?: string } = {}): BusSubscription {
    const sub = this.nc.subscribe(subject, {
      queue: options.queue,
      callback: (error, msg) => {
        if (!error) handler(this.toBusMessage(msg));
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  /**
   * One wildcard subscription serves every request's replies (`<inbox>.<token>`), as nats.js does
   * for its own requests: a subscription per request would cost a SUB and an UNSUB on the
   * critical path of every task.
   *
   * The token is random, not a counter: whoever receives a request learns the inbox, and in a
   * leaf topology nats-server lets a leaf publish to any inbox (deploy/nats/hub.conf), so a
   * guessable token would let one region's agent answer another region's task. A counter keeps
   * the tokens unique; 64 random bits make them unguessable.
   */
  request(subject: string, data: Uint8Array, onReply: (event: ReplyEvent) => void, options: { headers?: BusHeaders } = {}): BusSubscription {
    this.replyMux ??= this.startReplyMux();
    const token = `${(this.nextToken += 1).toString(36)}${randomHex(8)}`;
    const send = { reply: `${this.replyMux}.${token}`, headers: toNatsHeaders(options.headers) };
    if (this.canBatch(data.length)) this.batch.add(() => this.nc.publish(subject, data, send));
    else this.nc.publish(subject, data, send);
    this.replyHandlers.set(token, onReply);
    return {
      unsubscribe: () => {
        if (!this.replyHandlers.delete(token)) return;
        this.endedTokens.add(token);
        if (this.endedTokens.size > MAX_ENDED_TOKENS) this.endedTokens.delete(this.endedTokens.values().next().value!);
      },
    };
  }

  /**
   * A KV write as JetStream takes it: a publish to `$KV.<bucket>.<key>` answered by a PubAck. The
   * same message as nats.js's kv.put sends, without its request machinery (two NatsErrors with
   * their stack traces, a request object and a timer per write: ~40 µs of CPU per write against
   * ~10 µs, bench/README.md). The bucket is this bus's own (keyValue() made or bound it, with no
   * JetStream domain and no mirror), so its subject prefix is `$KV.<bucket>`. The answer comes on
   * a wildcard inbox of its own, so that an answer after the timeout is not counted as a late
   * agent reply (onDroppedReply); the write goes with the turn's other sends (the batch).
   */
  private kvPut(bucket: string, key: string, value: Uint8Array): Promise<void> {
    if (key.startsWith(".") || key.endsWith(".") || !KV_KEY.test(key)) return Promise.reject(new Error(`invalid key: ${key}`));
    this.kvAckMux ??= this.startKvAckMux();
    const token = `${(this.nextToken += 1).toString(36)}${randomHex(8)}`;
    const reply = `${this.kvAckMux}.${token}`;
    const subject = `$KV.${bucket}.${key}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kvAcks.delete(token);
        reject(new Error(`JetStream did not acknowledge the KV write of ${key} within ${KV_PUT_TIMEOUT_MS} ms`));
      }, KV_PUT_TIMEOUT_MS);
      this.kvAcks.set(token, (ack) => {
        clearTimeout(timer);
        this.kvAcks.delete(token);
        if (ack.kind === "no_responders") reject(new Error(`no JetStream answers for the KV bucket ${bucket}`));
        else {
          const problem = pubAckProblem(ack.data);
          if (problem) reject(new Error(`JetStream refused the KV write of ${key}: ${problem}`));
          else resolve();
        }
      });
      const send = (): void => this.nc.publish(subject, value, { reply });
      try {
        if (this.canBatch(value.length)) this.batch.add(send);
        else send();
      } catch (error) {
        clearTimeout(timer);
        this.kvAcks.delete(token);
        reject(error);
      }
    });
  }

  private startKvAckMux(): string {
    const prefix = createInbox(this.options.inboxPrefix);
    this.nc.subscribe(`${prefix}.*`, {
      callback: (error, msg) => {
        if (error) return;
        // An answer after the write's timeout finds no handler: the write was reported as failed.
        const handler = this.kvAcks.get(msg.subject.slice(prefix.length + 1));
        if (!handler) return;
        if (msg.headers?.hasError && msg.headers.code === 503) handler({ kind: "no_responders" });
        else handler({ kind: "message", data: msg.data });
      },
    });
    return prefix;
  }

  private startReplyMux(): string {
    const prefix = createInbox(this.options.inboxPrefix);
    this.nc.subscribe(`${prefix}.*`, {
      callback: (error, msg) => {
        if (error) return;
        const token = msg.subject.slice(prefix.length + 1);
        const handler = this.replyHandlers.get(token);
        if (!handler) {
          // A status from the server (no responders) is not a message from anyone.
          if (!msg.headers?.hasError) this.options.onDroppedReply?.(this.endedTokens.has(token) ? "late" : "unknown_reply_subject");
          return;
        }
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
        if (!error) spec.endpoint.handler(this.toBusMessage(msg));
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
      // One STATS round: a stats answer carries the service's identity and metadata too, so an
      // INFO round before it would only double the wait (each round waits its whole timeout).
      for await (const stats of await client.stats(name)) {
        found.set(stats.id, {
          id: stats.id,
          name: stats.name,
          version: stats.version,
          metadata: stats.metadata ?? {},
          started: stats.started,
          data: stats.endpoints?.[0]?.data,
        });
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
      put: (key, value) => this.kvPut(bucket, key, value),
      get: async (key) => {
        const entry = await kv.get(key);
        return entry && entry.operation === "PUT" ? entry.value : undefined;
      },
      entry: async (key) => {
        const entry = await kv.get(key);
        return entry && entry.operation === "PUT" ? { value: entry.value, revision: entry.revision } : undefined;
      },
      create: (key, value) => unlessRaced(kv.create(key, value)),
      update: (key, value, revision) => unlessRaced(kv.update(key, value, revision)),
      delete: (key, revision) => unlessRaced(kv.delete(key, revision === undefined ? undefined : { previousSeq: revision })),
      keys: async (filter) => {
        const keys: string[] = [];
        for await (const key of await kv.keys(filter)) keys.push(key);
        return keys;
      },
      watch: (filter, watcher) => watchKeys(kv, filter, watcher),
    };
  }

  async workQueue(spec: WorkQueueSpec): Promise<WorkQueue | undefined> {
    const jsm = await this.jetStreamManager();
    if (!jsm) return undefined;
    await ensureStream(jsm, {
      name: spec.name,
      subjects: [spec.subjects],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_msgs: spec.maxItems,
      max_age: nanos(spec.maxAgeMs),
      duplicate_window: nanos(Math.min(spec.maxAgeMs, DUPLICATE_WINDOW_MS)),
      storage: StorageType.File,
    });
    // The same durable for every process: each item goes to one of them.
    await jsm.consumers.add(spec.name, { durable_name: spec.consumer, ack_policy: AckPolicy.Explicit, ack_wait: nanos(spec.ackWaitMs), max_ack_pending: -1 });
    const js = this.nc.jetstream();
    const consumer = await js.consumers.get(spec.name, spec.consumer);
    return {
      add: async (subject, data, id) => {
        try {
          await js.publish(subject, data, { msgID: id });
        } catch (error) {
          if (jetStreamErrorCode(error) === JS_STREAM_FULL) throw new QueueFullError(`the queue ${spec.name} holds its bound of ${spec.maxItems} items`, { cause: error });
          throw error;
        }
      },
      room: async () => {
        const info = await jsm.streams.info(spec.name);
        return Math.max(0, spec.maxItems - info.state.messages);
      },
      async *take(max, expiresMs) {
        const messages = await consumer.fetch({ max_messages: max, expires: Math.max(1000, expiresMs) });
        for await (const m of messages) {
          const item: WorkItem = {
            subject: m.subject,
            data: m.data,
            deliveries: m.info.redeliveryCount,
            done: async () => void (await m.ackAck()),
            retry: (delayMs) => m.nak(delayMs),
            working: () => m.working(),
            drop: () => m.term(),
          };
          yield item;
        }
      },
    };
  }

  async recordLog(spec: RecordLogSpec): Promise<RecordLog | undefined> {
    const jsm = await this.jetStreamManager();
    if (!jsm) return undefined;
    await ensureStream(jsm, {
      name: spec.name,
      subjects: [spec.subjects],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(spec.maxAgeMs),
      max_bytes: spec.maxBytes,
      duplicate_window: nanos(Math.min(spec.maxAgeMs, spec.duplicateWindowMs)),
      storage: StorageType.File,
    });
    const js = this.nc.jetstream();
    return {
      append: async (subject, data, id) => {
        const ack = await js.publish(subject, data, { msgID: id });
        return { sequence: ack.seq, duplicate: ack.duplicate };
      },
      count: async (subject) => {
        const info = await jsm.streams.info(spec.name, { subjects_filter: subject });
        return info.state.subjects?.[subject] ?? 0;
      },
      lastSequence: async (subject) => {
        try {
          return (await jsm.streams.getMessage(spec.name, { last_by_subj: subject })).seq;
        } catch {
          return 0; // no message on the subject
        }
      },
      last: async (subject) => {
        try {
          return (await jsm.streams.getMessage(spec.name, { last_by_subj: subject })).data;
        } catch (error) {
          if (jetStreamErrorCode(error) === NO_MESSAGE_FOUND) return undefined;
          throw error;
        }
      },
      follow: (subject, after, signal) => followRecords(jsm, js, spec.name, subject, after, signal),
      purge: async (subject) => void (await jsm.streams.purge(spec.name, { filter: subject })),
    };
  }

  /** JetStream's manager, or undefined when the server has no JetStream. */
  private async jetStreamManager(): Promise<JetStreamManager | undefined> {
    try {
      return await this.nc.jetstreamManager();
    } catch {
      return undefined;
    }
  }

  /**
   * Drains when connected (bounded), then closes in any case: while disconnected, the client's
   * drain() returns without closing, and the reconnect loop would keep the process alive.
   */
  async drain(): Promise<void> {
    this.batch.flush();
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

  /** A received message; a reply to it goes out with the turn's other sends. */
  private toBusMessage(msg: Msg): BusMessage {
    const canRespond = Boolean(msg.reply);
    return {
      subject: msg.subject,
      data: msg.data,
      headers: fromNatsHeaders(msg.headers),
      canRespond,
      respond: (data) => {
        if (!canRespond || !this.canBatch(data.length)) return msg.respond(data);
        this.batch.add(() => msg.respond(data));
        return true;
      },
    };
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    for (const listener of this.listeners) listener(connected);
  }
}


function toNatsHeaders(values: BusHeaders | undefined): MsgHdrs | undefined {
  if (values === undefined || Object.keys(values).length === 0) return undefined;
  const h = natsHeaders();
  for (const [key, value] of Object.entries(values)) h.set(key, value);
  return h;
}

const NO_HEADERS: BusHeaders = Object.freeze({});

function fromNatsHeaders(h: MsgHdrs | undefined): BusHeaders {
  if (!h) return NO_HEADERS;
  return boundHeaders((function* () {
    for (const key of h.keys()) yield [key, h.get(key)] as [string, string];
  })());
}

/** A JetStream KV key, as nats.js checks it (no leading or trailing dot either). */
const KV_KEY = /^[-/=.\w]+$/;
/** How long a KV write waits for JetStream's acknowledgement (nats.js's default request timeout). */
const KV_PUT_TIMEOUT_MS = 5_000;

/** What is wrong with a PubAck (JetStream's JSON answer to a publish), or undefined when it acknowledges the write. */
export function pubAckProblem(data: Uint8Array): string | undefined {
  let ack: { stream?: unknown; seq?: unknown; error?: { code?: unknown; err_code?: unknown; description?: unknown } };
  try {
    ack = JSON.parse(new TextDecoder().decode(data)) as typeof ack;
  } catch {
    return "its answer is not JSON";
  }
  if (ack.error) return `${String(ack.error.description ?? "error")} (code ${String(ack.error.err_code ?? ack.error.code ?? "?")})`;
  if (typeof ack.stream !== "string" || typeof ack.seq !== "number") return "its answer is not a PubAck";
  return undefined;
}

/** How long a repeated add or append (the same id) is recognised: covers a process dying between a write and its acknowledgement. */
const DUPLICATE_WINDOW_MS = 3_600_000;

/** JetStream's error code for "wrong last sequence": a KV create of a key that holds a value. */
const JS_WRONG_LAST_SEQUENCE = 10071;

/** JetStream's error code for "maximum messages exceeded" (a stream with discard new at its bound). */
const JS_STREAM_FULL = 10077;

/** True once the write is done; false when JetStream refused it because another writer came first. */
async function unlessRaced(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (jetStreamErrorCode(error) === JS_WRONG_LAST_SEQUENCE) return false;
    throw error;
  }
}

/**
 * A KV watch (the client's ordered push consumer, which starts again by itself after a gap or
 * missed heartbeats) handed to a KeyWatcher; the watcher hears when it ends other than by stop().
 */
async function watchKeys(kv: KV, filter: string, watcher: KeyWatcher): Promise<KeyWatch> {
  let stopped = false;
  const iterator = await kv.watch({ key: filter, initializedFn: () => watcher.ready() });
  void (async () => {
    let failure: unknown;
    try {
      for await (const entry of iterator) watcher.entry(entry.key, entry.operation === "PUT" ? entry.value : undefined);
    } catch (error) {
      failure = error;
    }
    if (!stopped) watcher.ended(failure ?? new Error(`the watch of ${filter} ended`));
  })();
  return {
    stop: () => {
      stopped = true;
      iterator.stop();
    },
  };
}

/** JetStream's error code for a message asked for that is not in the stream. */
const NO_MESSAGE_FOUND = 10037;

function jetStreamErrorCode(error: unknown): number | undefined {
  const api = (error as { api_error?: { err_code?: number } } | undefined)?.api_error;
  return api?.err_code;
}

/** Creates the stream, or updates its limits when another process (or an older version) made it. */
async function ensureStream(jsm: JetStreamManager, config: Parameters<JetStreamManager["streams"]["add"]>[0] & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    try {
      await jsm.streams.add(config);
      return;
    } catch {
      // made meanwhile by another process: fall through to the update
    }
  }
  await jsm.streams.update(config.name, config).catch(() => undefined);
}

/**
 * A subject's records through an ephemeral consumer of our own (no acks, removed at the end and by
 * the server after FOLLOW_IDLE_MS without a reader), read by repeated pulls. Without acks a record
 * the server sent to a pull that had just expired is gone from that consumer: the consumer's own
 * delivery sequence shows the gap, and a new consumer starts again after the last record read —
 * what the client's ordered consumer does, whose consume() never starts on nats-server 2.9
 * (Debian 12's).
 */
async function* followRecords(
  jsm: JetStreamManager,
  js: ReturnType<NatsConnection["jetstream"]>,
  stream: string,
  subject: string,
  after: number,
  signal: AbortSignal,
): AsyncIterable<{ sequence: number; data: Uint8Array; pending: number }> {
  let last = after;
  // Consumers lost in a row (fetches that failed): one is made again, a second failure is thrown.
  let lost = 0;
  while (!signal.aborted) {
    const info = await jsm.consumers.add(stream, {
      filter_subject: subject,
      ack_policy: AckPolicy.None,
      inactive_threshold: nanos(FOLLOW_IDLE_MS),
      // A read position, nothing to keep: in memory, made in half the time of one on disk.
      mem_storage: true,
      ...(last > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: last + 1 } : { deliver_policy: DeliverPolicy.All }),
    });
    try {
      // From the info the add returned: asking the server for it again would cost a round trip.
      const consumer = js.consumers.getPullConsumerFor(info);
      let delivered = 0;
      let gap = false;
      while (!signal.aborted && !gap) {
        let messages: Awaited<ReturnType<typeof consumer.fetch>> | undefined;
        const stop = (): void => void messages?.stop();
        signal.addEventListener("abort", stop, { once: true });
        try {
          messages = await consumer.fetch({ max_messages: FOLLOW_BATCH, expires: FOLLOW_PULL_MS });
          for await (const m of messages) {
            lost = 0;
            if (m.info.deliverySequence !== delivered + 1) {
              gap = true; // a record went to an expired pull: start again after `last`
              messages.stop();
              break;
            }
            delivered = m.info.deliverySequence;
            last = m.seq;
            yield { sequence: m.seq, data: m.data, pending: m.info.pending };
          }
        } catch (error) {
          // The consumer is gone (a restarted server forgets consumers kept in memory, or it was
          // deleted): a new one starts again after `last`, once in a row.
          if (signal.aborted) break;
          if (++lost > 1) throw error;
          gap = true;
        } finally {
          signal.removeEventListener("abort", stop);
        }
      }
    } finally {
      await jsm.consumers.delete(stream, info.name).catch(() => undefined);
    }
  }
}

/** Records pulled at once by a follower, and how long one pull waits for them. */
const FOLLOW_BATCH = 256;
const FOLLOW_PULL_MS = 5_000;
/** A follower's consumer left behind (its process died) is removed by the server after this. */
const FOLLOW_IDLE_MS = 60_000;
