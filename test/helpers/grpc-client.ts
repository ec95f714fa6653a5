// A typed promise wrapper over the generated ProbeServiceClient and a grpc.health.v1 client, for
// end-to-end tests: every call has a deadline (a hang fails the test instead of stalling it), a
// StreamProbe is collected into its events, and close() releases the channels.
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type CallOptions,
  type ChannelCredentials,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import type { ServiceDefinition } from "@grpc/proto-loader";
import { service as healthServiceDefinition } from "grpc-health-check";
import {
  ListRegionsResponse,
  ProbeReport,
  ProbeRequest,
  type ProbeEvent,
} from "../../gen/smtpprobe/v1/probe_service.js";
import { ProbeServiceClient } from "../../lib/probe-service-client.js";
import { delay } from "./wait.js";

/** What the request builders accept: any part of a ProbeRequest, nested parts too. */
export type ProbeRequestInput = Parameters<typeof ProbeRequest.fromPartial>[0];

export type HealthStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/** A gRPC call's options in test terms. */
export interface CallOpts {
  /** The call's gRPC deadline, from now; default 10 000 ms. */
  deadlineMs?: number;
}

/** A StreamProbe in progress: its events as they come, and how it ended. */
export interface ProbeStream {
  call: ClientReadableStream<ProbeEvent>;
  /** Every event received so far (a live array). */
  events: ProbeEvent[];
  /** When each event arrived (performance.now()), same index as events. */
  times: number[];
  /** Resolves when the stream ends: cleanly (error undefined) or with a status. Never rejects. */
  done: Promise<{ events: ProbeEvent[]; error?: ServiceError }>;
  /** The first event (already received or to come) that matches; rejects after timeoutMs or when the stream ends without one. */
  next(predicate: (event: ProbeEvent) => boolean, timeoutMs?: number): Promise<ProbeEvent>;
}

export interface ProbeApi {
  /** "127.0.0.1:PORT". */
  address: string;
  /** The generated client, for what the wrapper does not cover. */
  raw: ProbeServiceClient;
  probe(request: ProbeRequestInput, opts?: CallOpts): Promise<ProbeReport>;
  streamProbe(request: ProbeRequestInput, opts?: CallOpts): ProbeStream;
  getProbe(probeId: string, opts?: CallOpts): Promise<ProbeReport>;
  listRegions(opts?: CallOpts): Promise<ListRegionsResponse>;
  /** grpc.health.v1 Check of a service ("" is the whole server); a NOT_FOUND status is SERVICE_UNKNOWN. */
  health(service?: string, opts?: CallOpts): Promise<HealthStatus>;
  /** Polls health until it is `expected`; rejects with the last status seen after timeoutMs. */
  waitForHealth(expected: HealthStatus, timeoutMs: number, service?: string): Promise<void>;
  close(): void;
  /** close(), for stopAfterEach(). */
  stop(): Promise<void>;
}

interface HealthClient {
  check(
    request: { service: string },
    metadata: Metadata,
    options: Partial<CallOptions>,
    callback: (error: ServiceError | null, response?: { status: HealthStatus }) => void,
  ): unknown;
  close(): void;
}

const HealthClientConstructor = makeGenericClientConstructor(
  healthServiceDefinition as unknown as ServiceDefinition,
  "grpc.health.v1.Health",
) as unknown as new (address: string, creds: ChannelCredentials) => HealthClient;

const DEFAULT_CALL_MS = 10_000;

function callOptions(opts: CallOpts | undefined): Partial<CallOptions> {
  return { deadline: Date.now() + (opts?.deadlineMs ?? DEFAULT_CALL_MS) };
}

export interface ConnectOptions {
  /** Channel credentials (TLS, mutual TLS); default plaintext. */
  channel?: ChannelCredentials;
  /** Sent as `authorization: Bearer <token>` on the ProbeService calls (not on health checks). */
  token?: string;
}

/** A client of the coordinator at host:port (plaintext unless `options.channel` says otherwise). */
export function connectProbeApi(address: string, options: ConnectOptions = {}): ProbeApi {
  const channel = options.channel ?? credentials.createInsecure();
  const raw = new ProbeServiceClient(address, channel);
  const healthClient = new HealthClientConstructor(address, channel);
  const md = (): Metadata => {
    const metadata = new Metadata();
    if (options.token !== undefined) metadata.set("authorization", `Bearer ${options.token}`);
    return metadata;
  };

  const unary = <T>(invoke: (callback: (error: ServiceError | null, response: T) => void) => unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      invoke((error, response) => (error ? reject(error) : resolve(response)));
    });

  const api: ProbeApi = {
    address,
    raw,
    probe: (request, opts) => unary<ProbeReport>((cb) => raw.probe(ProbeRequest.fromPartial(request), md(), callOptions(opts), cb)),
    streamProbe: (request, opts) => collectStream(raw.streamProbe(ProbeRequest.fromPartial(request), md(), callOptions(opts))),
    getProbe: (probeId, opts) => unary<ProbeReport>((cb) => raw.getProbe({ probeId }, md(), callOptions(opts), cb)),
    listRegions: (opts) => unary<ListRegionsResponse>((cb) => raw.listRegions({}, md(), callOptions(opts), cb)),
    health: (service = "", opts) =>
      new Promise<HealthStatus>((resolve, reject) => {
        healthClient.check({ service }, new Metadata(), callOptions(opts), (error, response) => {
          if (error?.code === status.NOT_FOUND) resolve("SERVICE_UNKNOWN");
          else if (error) reject(error);
          else resolve(response?.status ?? "UNKNOWN");
        });
      }),
    async waitForHealth(expected, timeoutMs, service = "") {
      const until = Date.now() + timeoutMs;
      let last = "no answer";
      for (;;) {
        try {
          last = await api.health(service, { deadlineMs: Math.max(100, Math.min(1000, until - Date.now())) });
          if (last === expected) return;
        } catch (error) {
          last = describeError(error);
        }
        if (Date.now() >= until) throw new Error(`health of ${JSON.stringify(service)} at ${address} is not ${expected} after ${timeoutMs} ms (last: ${last})`);
        await delay(50);
      }
    },
    close() {
      raw.close();
      healthClient.close();
    },
    async stop() {
      api.close();
    },
  };
  return api;
}

function collectStream(call: ClientReadableStream<ProbeEvent>): ProbeStream {
  const events: ProbeEvent[] = [];
  const times: number[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  const done = new Promise<{ events: ProbeEvent[]; error?: ServiceError }>((resolve) => {
    call.on("data", (event: ProbeEvent) => {
      events.push(event);
      times.push(performance.now());
      wake();
    });
    // 'status' comes last, after 'end' or with 'error'; an error without a status still ends it.
    call.on("error", (error: ServiceError) => {
      ended = true;
      resolve({ events, error });
      wake();
    });
    call.on("status", (s: { code: status }) => {
      if (s.code === status.OK) {
        ended = true;
        resolve({ events });
        wake();
      }
    });
  });
  return {
    call,
    events,
    times,
    done,
    next(predicate, timeoutMs = 5_000) {
      return new Promise<ProbeEvent>((resolve, reject) => {
        const check = (): void => {
          const found = events.find(predicate);
          if (found) finish(() => resolve(found));
          else if (ended) finish(() => reject(new Error(`the stream ended without the event awaited (${events.length} events: ${summarize(events)})`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`no such event within ${timeoutMs} ms (${events.length} events: ${summarize(events)})`))),
          timeoutMs,
        );
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** "accepted, progress, task, ..." for failure messages. */
export function summarize(events: readonly ProbeEvent[]): string {
  return events.map((e) => (e.accepted ? "accepted" : e.progress ? "progress" : e.task ? "task" : e.report ? "report" : "?")).join(", ");
}

/** "INVALID_ARGUMENT: invalid request: ..." for failure messages. */
export function describeError(error: unknown): string {
  if (isServiceError(error)) return `${status[error.code] ?? error.code}: ${error.details}`;
  return error instanceof Error ? error.message : String(error);
}

export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number" && "metadata" in error;
}

/** The gRPC error a call fails with; throws when it succeeds (with what it answered). */
export async function callError(promise: Promise<unknown>): Promise<ServiceError> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    if (isServiceError(error)) return error;
    throw error;
  }
  const shown = value instanceof Object && "probeId" in value ? `a report (probe ${String(value.probeId)})` : JSON.stringify(value);
  throw new Error(`expected the call to fail, it answered ${shown.slice(0, 2000)}`);
}
