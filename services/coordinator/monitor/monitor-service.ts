// The MonitorService: CreateMonitor checks the probe as Probe would (and against the target
// policy) and keeps it in JetStream, where every coordinator's scheduler finds it
// (monitor-scheduler.ts); WatchMonitor relays the monitor's events from its NATS subject, from
// whichever coordinator ran each. A monitor is its caller's: another caller's id is NOT_FOUND.
// The operations are the service's whatever the transport: the gRPC handlers here and the
// HTTP/JSON API (http/http-api.ts) both call them.
import { randomUUID } from "node:crypto";
import { status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from "@grpc/grpc-js";
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
import { isMonitorId, pageOfIds, type MonitorRecord } from "./monitor-records.js";
import { monitorEventSubject, type MonitorStore } from "./monitor-store.js";
import { checkWebhook } from "./webhook.js";

export interface MonitorServiceDeps {
  /** undefined: no JetStream (embedded mode); every call is FAILED_PRECONDITION. */
  store: MonitorStore | undefined;
  bus: Bus;
  policy: TargetPolicyChecker;
  logger: Logger;
  limits: { minIntervalMs: number; maxMonitors: number; maxMonitorsPerCaller: number; maxDeadlineMs: number };
}

/** The longest interval: a day. */
const MAX_INTERVAL_SECONDS = 86_400;
/** Bytes a watcher's stream may hold before the watch gives up on it (a reader that does not read). */
export const MAX_WATCH_BACKLOG_BYTES = 4 * 1024 * 1024;

export interface MonitorOperations {
  create(request: CreateMonitorRequest, caller: string): Promise<Monitor>;
  get(monitorId: string, caller: string): Promise<Monitor>;
  delete(monitorId: string, caller: string): Promise<Monitor>;
  list(request: ListMonitorsRequest, caller: string): Promise<ListMonitorsResponse>;
  /**
   * Sends each run's event (with changes_only, those that changed a verdict) to `send` until the
   * signal aborts. `send` answers false when its reader is too far behind: the watch then ends
   * RESOURCE_EXHAUSTED (events are not kept for it, so it is not held back either). `started` is
   * called once the monitor is found and its events subscribed to.
   */
  watch(request: WatchMonitorRequest, caller: string, send: (event: MonitorEvent) => boolean, signal: AbortSignal, started?: () => void): Promise<void>;
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

  async function watch(request: WatchMonitorRequest, caller: string, send: (event: MonitorEvent) => boolean, signal: AbortSignal, started?: () => void): Promise<void> {
    const record = await recordOf(request.monitorId ?? "", caller);
    await new Promise<void>((resolve, reject) => {
      const subscription = deps.bus.subscribe(monitorEventSubject(record.monitorId), (message) => {
        let event: MonitorEvent;
        try {
          event = MonitorEvent.decode(message.data);
        } catch {
          return; // not ours: only coordinators publish there
        }
        if (request.changesOnly && event.changes.length === 0) return;
        if (!send(event)) finish(new CallError(serviceError(status.RESOURCE_EXHAUSTED, "the watch fell too far behind its events; watch again")));
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
      const send = (event: MonitorEvent): boolean => {
        if (call.writableLength > MAX_WATCH_BACKLOG_BYTES) return false;
        call.write(event);
        return true;
      };
      calls.serve<void>(
        { ok: () => call.end(), fail: (error) => call.emit("error", error) },
        (signal) => operations.watch(call.request, callerOf(call.metadata), send, signal),
        call,
      );
    },
  };
}
