// The MonitorService: CreateMonitor checks the probe as Probe would (and against the target
// policy) and keeps it in JetStream, where every coordinator's scheduler finds it
// (monitor-scheduler.ts); WatchMonitor relays the monitor's events from its NATS subject, from
// whichever coordinator ran each, and with after_run (or from_oldest) first those kept after that
// run (monitor-events.ts). A monitor is its caller's: another caller's id is NOT_FOUND.
// The operations are the service's whatever the transport: the gRPC handlers here and the
// HTTP/JSON API (http/http-api.ts) both call them.
import { randomUUID } from "node:crypto";
import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from "@grpc/grpc-js";
import {
  MonitorEvent,
  type CreateMonitorRequest,
  type DeleteMonitorRequest,
  type GetMonitorRequest,
  type ListMonitorsRequest,
  type ListMonitorsResponse,
  type Monitor,
  type MonitorServiceDefinition,
  type WatchMonitorRequest,
} from "../../../gen/smtpprobe/v1/monitor.js";
import type { Bus } from "../../../lib/bus.js";
import type { GrpcServerImplementation } from "../../../lib/grpc-service.js";
import type { Logger } from "../../../lib/logger.js";
import type { TargetPolicyChecker } from "../../../lib/policy/target-policy.js";
import { AuditTrail } from "../audit-trail.js";
import { callerOf } from "../caller-auth.js";
import { CallError, type CallTracker } from "../call-tracker.js";
import { invalidArgument, isUndecodable, notFound, permissionDenied, serviceError, UNDECODABLE } from "../grpc-errors.js";
import { checkTargetEarly, validateProbeRequest, type FieldViolation } from "../validate-request.js";
import { hasChanges } from "./monitor-changes.js";
import { isMonitorId, pageOfIds, type MonitorRecord } from "./monitor-records.js";
import type { MonitorEventLog } from "./monitor-events.js";
import { monitorEventSubject, type MonitorStore } from "./monitor-store.js";
import { checkWebhook } from "./webhook.js";

export interface MonitorServiceDeps {
  /** undefined: no JetStream (embedded mode); every call is FAILED_PRECONDITION. */
  store: MonitorStore | undefined;
  /** The kept events; undefined: none are kept (no JetStream, or the stream could not be opened), a watch with after_run or from_oldest is FAILED_PRECONDITION. */
  events: MonitorEventLog | undefined;
  bus: Bus;
  policy: TargetPolicyChecker;
  logger: Logger;
  limits: { minIntervalMs: number; maxMonitors: number; maxMonitorsPerCaller: number; maxDeadlineMs: number };
}

/** The longest interval: a day. */
const MAX_INTERVAL_SECONDS = 86_400;
/**
 * Bytes a watcher's stream may hold unread. A live event that finds it full ends the watch
 * RESOURCE_EXHAUSTED after the events it holds (a live event cannot wait: the next one may come
 * meanwhile); the watcher resumes with the last run it received (after_run) from the kept events.
 */
export const MAX_WATCH_BACKLOG_BYTES = 4 * 1024 * 1024;
/** Kept events wait for their reader to make room, but no longer than this: then it is too far behind as well. */
export const WATCH_STALL_MS = 30_000;

/** Where a watch's events go: a gRPC stream or an HTTP response. */
export interface WatchSink {
  /** Writes the event (`bytes` its size encoded), unless more than MAX_WATCH_BACKLOG_BYTES are unread: false then, nothing written. */
  send(event: MonitorEvent, bytes: number): boolean;
  /** True once the reader has taken enough for the next event to be written; false when not within timeoutMs, or the reader is gone. */
  room(timeoutMs: number): Promise<boolean>;
}

export interface MonitorOperations {
  create(request: CreateMonitorRequest, caller: string): Promise<Monitor>;
  get(monitorId: string, caller: string): Promise<Monitor>;
  delete(monitorId: string, caller: string): Promise<Monitor>;
  list(request: ListMonitorsRequest, caller: string): Promise<ListMonitorsResponse>;
  /**
   * Sends each run's event (with changes_only, those with a verdict or region change) to the sink until the
   * signal aborts. From now on (after_run 0) the events come live from the monitor's subject, and
   * a sink too far behind ends the watch RESOURCE_EXHAUSTED, saying the run to resume after. With
   * after_run, the kept events after that run (with from_oldest, every kept one) and then the new
   * ones are read from the stream at the reader's pace: a reader that makes no room for
   * WATCH_STALL_MS ends the same way. `started` is called once the monitor is found and its events
   * subscribed to.
   */
  watch(request: WatchMonitorRequest, caller: string, sink: WatchSink, signal: AbortSignal, started?: () => void): Promise<void>;
}

export function createMonitorOperations(deps: MonitorServiceDeps): MonitorOperations {
  const audit = new AuditTrail(deps.logger);
  const storeOf = (): MonitorStore => {
    if (!deps.store) throw new CallError(serviceError(status.FAILED_PRECONDITION, "monitors need JetStream: run the coordinator with --nats and a NATS server with JetStream"));
    return deps.store;
  };
  const recordOf = async (monitorId: string, caller: string): Promise<MonitorRecord> => {
    if (!isMonitorId(monitorId)) throw new CallError(invalidArgument([{ field: "monitor_id", description: "must be a monitor id as returned by CreateMonitor (a UUID)" }]));
    const record = await storeOf().get(monitorId);
    if (!record || record.caller !== caller) throw new CallError(notFound("smtpprobe.v1.Monitor", monitorId, `no monitor ${monitorId} (unknown, another caller's, or deleted)`));
    return record;
  };
  const monitorOf = (record: MonitorRecord): Monitor => ({
    monitorId: record.monitorId,
    probe: record.probe,
    intervalSeconds: Math.round(record.intervalMs / 1000),
    createdAt: new Date(record.createdAt),
    webhookUrl: record.webhookUrl,
  });

  async function create(request: CreateMonitorRequest, caller: string): Promise<Monitor> {
    const store = storeOf();
    const violations: FieldViolation[] = [];
    const minSeconds = Math.ceil(deps.limits.minIntervalMs / 1000);
    const interval = request.intervalSeconds ?? 0;
    if (interval < minSeconds || interval > MAX_INTERVAL_SECONDS) violations.push({ field: "interval_seconds", description: `must be between ${minSeconds} and ${MAX_INTERVAL_SECONDS}, got ${interval}` });
    const webhookUrl = request.webhookUrl ?? "";
    const webhookSecret = request.webhookSecret ?? "";
    if (webhookUrl !== "") {
      const bad = checkWebhook(webhookUrl, webhookSecret);
      if (bad) violations.push(bad);
    } else if (webhookSecret !== "") {
      violations.push({ field: "webhook_secret", description: "is for webhook_url, which is empty" });
    }
    if ((request.probe?.idempotencyKey ?? "") !== "") violations.push({ field: "probe.idempotency_key", description: "must be empty: each run is a probe of its own" });
    const checked = validateProbeRequest(request.probe ?? ({} as NonNullable<CreateMonitorRequest["probe"]>), { maxDeadlineMs: deps.limits.maxDeadlineMs });
    if (!checked.ok) violations.push(...checked.violations.map((v) => ({ field: `probe.${v.field}`, description: v.description })));
    if (violations.length > 0 || !checked.ok) throw audit.refuse(caller, "invalid_argument", invalidArgument(violations));
    const denied = checkTargetEarly(checked.value, deps.policy);
    if (denied) throw audit.refuse(caller, denied.kind === "deny_list" ? "deny_list" : "permission_denied", permissionDenied(denied.reason, `probe.${denied.field}`));
    // The caller's bound holds whatever runs at once (a slot per monitor, claimed atomically).
    // The global one is counted before the write and again after it: of creations at the same
    // instant that went past it, each sees the others' records in its second count and takes its
    // own back, so the bound is passed for a moment at most (docs/monitors.md, Bounds).
    const monitorId = randomUUID();
    const slot = await store.claimSlot(caller, monitorId, deps.limits.maxMonitorsPerCaller);
    if (slot === undefined) {
      throw audit.refuse(caller, "caller_quota", serviceError(status.RESOURCE_EXHAUSTED, `a caller keeps at most ${deps.limits.maxMonitorsPerCaller} monitors; delete one first`));
    }
    const record: MonitorRecord = { monitorId, caller, intervalMs: interval * 1000, createdAt: Date.now(), probe: { ...checked.value.accepted, idempotencyKey: "" }, webhookUrl, webhookSecret, slot };
    const full = (): CallError => new CallError(serviceError(status.RESOURCE_EXHAUSTED, `the coordinators keep at most ${deps.limits.maxMonitors} monitors; delete one first`));
    try {
      if ((await store.count()) >= deps.limits.maxMonitors) throw full();
      await store.put(record);
      if ((await store.count()) > deps.limits.maxMonitors) {
        await store.delete(record);
        throw full();
      }
    } catch (error) {
      await store.releaseSlot(caller, slot, monitorId).catch(() => undefined);
      throw error;
    }
    deps.logger.info({ monitorId: record.monitorId, caller, intervalSeconds: interval, host: record.probe.host }, "monitor created");
    return monitorOf(record);
  }

  async function list(request: ListMonitorsRequest, caller: string): Promise<ListMonitorsResponse> {
    const store = storeOf();
    const page = pageOfIds(await store.callerIds(caller), request.pageSize ?? 0, request.pageToken ?? "");
    if (!page.ok) throw new CallError(invalidArgument([{ field: page.field, description: page.description }]));
    const records = await Promise.all(page.ids.map((id) => store.get(id)));
    // A record missing (deleted meanwhile, or its creation cut short) or another's is left out.
    const monitors = records.filter((r): r is MonitorRecord => r !== undefined && r.caller === caller).map(monitorOf);
    return { monitors, nextPageToken: page.nextPageToken };
  }

  async function watch(request: WatchMonitorRequest, caller: string, sink: WatchSink, signal: AbortSignal, started?: () => void): Promise<void> {
    const afterRun = request.afterRun ?? 0;
    if (afterRun > 0 && request.fromOldest) throw new CallError(invalidArgument([{ field: "from_oldest", description: `reads every kept run: leave it out with after_run (${afterRun})` }]));
    const record = await recordOf(request.monitorId ?? "", caller);
    /** The last run relayed or left out, and the last one sent (where a resume starts). */
    let lastRun = afterRun;
    let lastSent = afterRun;
    /**
     * The event to the watcher (or left out by changes_only); false when the sink is full. A run
     * already relayed is left out: kept twice (its append retried as a plain publish, which the
     * stream also stores), it is still sent once.
     */
    const relay = (event: MonitorEvent, bytes: number): boolean => {
      if (event.run <= lastRun) return true;
      if (!request.changesOnly || hasChanges(event)) {
        if (!sink.send(event, bytes)) return false;
        lastSent = event.run;
      }
      lastRun = event.run;
      return true;
    };
    const behind = (): CallError =>
      new CallError(
        serviceError(
          status.RESOURCE_EXHAUSTED,
          lastSent > 0 ? `the watch fell too far behind its events; watch again with after_run ${lastSent} to resume after the last run sent` : "the watch fell too far behind its events; watch again",
        ),
      );
    if (afterRun > 0 || request.fromOldest) {
      const field = afterRun > 0 ? "after_run" : "from_oldest";
      if (!deps.events) throw new CallError(serviceError(status.FAILED_PRECONDITION, `${field}: this coordinator keeps no monitor events (its JetStream stream could not be opened); watch without ${field}`));
      const followed = deps.events.follow(record.monitorId, afterRun, signal);
      started?.();
      for await (const { event, bytes } of followed) {
        while (!relay(event, bytes)) {
          if (!(await sink.room(WATCH_STALL_MS))) {
            if (signal.aborted) return;
            throw behind();
          }
        }
      }
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const subscription = deps.bus.subscribe(monitorEventSubject(record.monitorId), (message) => {
        let event: MonitorEvent;
        try {
          event = MonitorEvent.decode(message.data);
        } catch {
          return; // not ours: only coordinators publish there
        }
        if (!relay(event, message.data.length)) finish(behind());
      });
      const finish = (error?: unknown): void => {
        subscription.unsubscribe();
        signal.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = (): void => finish();
      signal.addEventListener("abort", onAbort, { once: true });
      started?.();
    });
  }

  return {
    create,
    get: async (monitorId, caller) => monitorOf(await recordOf(monitorId, caller)),
    delete: async (monitorId, caller) => {
      const record = await recordOf(monitorId, caller);
      await storeOf().delete(record);
      // Its events go with it (a run ending meanwhile may still keep one: it ages out).
      await deps.events?.purge(record.monitorId).catch((error: unknown) => deps.logger.warn({ err: error, monitorId: record.monitorId }, "a deleted monitor's events could not be removed; they age out"));
      return monitorOf(record);
    },
    list,
    watch,
  };
}

const undecodable = (request: object, type: string): ServiceError | undefined =>
  isUndecodable(request) ? invalidArgument([{ field: "request", description: `is not a ${type} in protobuf encoding (${request[UNDECODABLE].slice(0, 100)})` }]) : undefined;

/** The gRPC handlers on the operations, each tracked by the calls tracker (drain and end at shutdown). */
export function monitorGrpcService(operations: MonitorOperations, calls: CallTracker): GrpcServerImplementation<MonitorServiceDefinition> {
  return {
    createMonitor(call: ServerUnaryCall<CreateMonitorRequest, Monitor>, callback: sendUnaryData<Monitor>) {
      const invalid = undecodable(call.request, "CreateMonitorRequest");
      if (invalid) return callback(invalid);
      calls.serveUnary(callback, () => operations.create(call.request, callerOf(call.metadata)));
    },
    getMonitor(call: ServerUnaryCall<GetMonitorRequest, Monitor>, callback: sendUnaryData<Monitor>) {
      const invalid = undecodable(call.request, "GetMonitorRequest");
      if (invalid) return callback(invalid);
      calls.serveUnary(callback, () => operations.get(call.request.monitorId ?? "", callerOf(call.metadata)));
    },
    deleteMonitor(call: ServerUnaryCall<DeleteMonitorRequest, Monitor>, callback: sendUnaryData<Monitor>) {
      const invalid = undecodable(call.request, "DeleteMonitorRequest");
      if (invalid) return callback(invalid);
      calls.serveUnary(callback, () => operations.delete(call.request.monitorId ?? "", callerOf(call.metadata)));
    },
    listMonitors(call: ServerUnaryCall<ListMonitorsRequest, ListMonitorsResponse>, callback: sendUnaryData<ListMonitorsResponse>) {
      const invalid = undecodable(call.request, "ListMonitorsRequest");
      if (invalid) return callback(invalid);
      calls.serveUnary(callback, () => operations.list(call.request, callerOf(call.metadata)));
    },
    watchMonitor(call: ServerWritableStream<WatchMonitorRequest, MonitorEvent>) {
      const invalid = undecodable(call.request, "WatchMonitorRequest");
      if (invalid) {
        call.emit("error", invalid);
        return;
      }
      calls.serve<void>(
        { ok: () => call.end(), fail: (error) => call.emit("error", error) },
        // The response's headers go out once the watch is subscribed: a client knows from them that
        // it will not miss the next run, which may be an interval away.
        (signal) => operations.watch(call.request, callerOf(call.metadata), grpcWatchSink(call), signal, () => call.sendMetadata(new Metadata())),
        call,
        "watch",
      );
    },
  };
}

/**
 * A gRPC stream as a watch's sink. The call's writableLength counts messages, not bytes: the bytes
 * written and not yet taken by HTTP/2 (whose flow control holds them while the client does not
 * read) are counted here, each message's until its write completes.
 */
function grpcWatchSink(call: ServerWritableStream<WatchMonitorRequest, MonitorEvent>): WatchSink {
  let unread = 0;
  let wake: (() => void) | undefined;
  const hasRoom = (): boolean => unread <= MAX_WATCH_BACKLOG_BYTES;
  return {
    send(event, bytes) {
      if (!hasRoom()) return false;
      unread += bytes;
      call.write(event, () => {
        unread -= bytes;
        if (hasRoom()) wake?.();
      });
      return true;
    },
    room(timeoutMs) {
      if (hasRoom()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          call.off("cancelled", finish);
          call.off("close", finish);
          wake = undefined;
          resolve(hasRoom() && !call.cancelled && call.writable);
        };
        const timer = setTimeout(finish, timeoutMs);
        call.once("cancelled", finish);
        call.once("close", finish);
        wake = finish;
      });
    },
  };
}
