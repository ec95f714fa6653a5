// The HTTP/JSON API: the ProbeService, the BatchService and the MonitorService at resource paths (api-routes.ts), in the protobuf JSON
// mapping, for services that do not speak gRPC and for the page. A thin gateway on node:http: the
// caller is known by the same tokens and certificates as over gRPC (http-caller.ts), the request is
// checked strictly against its descriptor (request-json.ts) and then goes through the same
// operations as a gRPC call (probe-service.ts: validation, policy, quotas, duplicate joining,
// draining; batch/batch-service.ts; monitor/monitor-service.ts), and an error is google.rpc.Status with its HTTP status (http-status.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import { status, type ServiceError } from "@grpc/grpc-js";
import { CancelBatchRequest, CreateBatchRequest, GetBatchRequest, WatchBatchRequest, type BatchEvent } from "../../../gen/smtpprobe/v1/batch.js";
import { CreateMonitorRequest, DeleteMonitorRequest, GetMonitorRequest, ListMonitorsRequest, WatchMonitorRequest } from "../../../gen/smtpprobe/v1/monitor.js";
import { DomainCheckRequest, type DomainCheckEvent, type DomainCheckReport } from "../../../gen/smtpprobe/v1/domain.js";
import { ProbeRequest, type ProbeEvent, type ProbeReport } from "../../../gen/smtpprobe/v1/probe_service.js";
import {
  batchEventJson,
  batchJson,
  domainCheckEventJson,
  domainCheckReportJson,
  listMonitorsJson,
  listRegionsJson,
  monitorEventJson,
  monitorJson,
  probeEventJson,
  probeReportJson,
} from "../../../lib/proto-json.js";
import type { Logger } from "../../../lib/logger.js";
import type { HttpRoute } from "../../../lib/metrics-server.js";
import { metrics, type RejectReason } from "../../../lib/metrics.js";
import { TRACEPARENT } from "../../../lib/trace-context.js";
import { AuditTrail } from "../audit-trail.js";
import { shuttingDown, type CancellableCall } from "../call-tracker.js";
import type { CallerAuth } from "../caller-auth.js";
import { invalidArgument, serviceError } from "../grpc-errors.js";
import { httpCallerAuth } from "../http-caller.js";
import type { BatchOperations } from "../batch/batch-service.js";
import { MAX_WATCH_BACKLOG_BYTES, type MonitorOperations, type WatchSink } from "../monitor/monitor-service.js";
import { checkDomainCheckId, checkProbeId, type ProbeOperations } from "../probe-service.js";
import { MAX_RECEIVE_MESSAGE_BYTES } from "../server.js";
import { apiMessage } from "../../../lib/api-schema.js";
import { API_ROUTES, routeMatcher, type ApiRoute } from "./api-routes.js";
import { httpErrorOf, httpLayerError, type HttpError } from "./http-status.js";
import { mergeUrlParts, parseRequestJson } from "./request-json.js";
import { checkLoopbackHost, checkSameOrigin, checkStateChanging } from "./request-guard.js";
import { SECURITY_HEADERS } from "./security-headers.js";
import { SseWriter } from "./sse.js";

export interface HttpApiDeps {
  /** The operations once the coordinator is composed; undefined while it starts (503 meanwhile). */
  operations(): ProbeOperations | undefined;
  /** The BatchService's operations once composed (without JetStream they refuse every call, as over gRPC). */
  batches(): BatchOperations | undefined;
  /** The MonitorService's operations once composed (likewise). */
  monitors(): MonitorOperations | undefined;
  /** Why calls are refused while the coordinator starts ("waiting for NATS at ..."). */
  notReady(): string;
  auth: Pick<CallerAuth, "tokens" | "mutualTls">;
  /** No caller authentication: the listener is on loopback, and the Host header must say so too. */
  unauthenticated: boolean;
  scheme: "http" | "https";
  logger: Logger;
}

/** The answer a route handler gives: JSON, or an error; a stream answers by itself (undefined). */
type Answer = { json: unknown } | { error: ServiceError } | undefined;

const JSON_HEADERS = { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

/** The API's routes under /v1/; anything else there is a 404 in the same Status form. */
export function httpApiRoute(deps: HttpApiDeps): HttpRoute {
  const match = routeMatcher(API_ROUTES);
  const identify = httpCallerAuth(deps.auth);
  const audit = new AuditTrail(deps.logger);
  const auditLog = deps.logger.child({ audit: true });

  const refuse = (response: ServerResponse, request: IncomingMessage, reason: RejectReason, error: HttpError): void => {
    metrics.requestsRejected.inc({ reason });
    auditLog.info({ event: "denied", peer: request.socket.remoteAddress, method: `${request.method} ${request.url?.slice(0, 200)}`, reason, code: status[bodyCode(error)], detail: bodyMessage(error) }, "audit");
    sendError(response, error);
  };

  return (request, response, path) => {
    if (!path.startsWith("/v1/")) return false;
    const method = request.method ?? "GET";
    const found = match(method === "HEAD" ? "GET" : method, path);
    if (!found.match) {
      const error =
        found.allowed.length > 0
          ? httpLayerError(405, status.UNIMPLEMENTED, `${method} is not a method of ${path} (it has ${found.allowed.join(", ")})`, { allow: found.allowed.join(", ") })
          : httpLayerError(404, status.NOT_FOUND, `no such resource: ${path.slice(0, 200)} (the API's routes are in /openapi.json)`);
      sendError(response, error);
      return true;
    }
    const { route, params } = found.match;
    if (method === "HEAD" && route.streamOnly) {
      // A stream has no headers to tell apart from its body: HEAD would hold a watch open for nothing.
      sendError(response, httpLayerError(405, status.UNIMPLEMENTED, `HEAD is not a method of ${path} (it has GET)`, { allow: "GET" }));
      return true;
    }
    if (deps.unauthenticated) {
      const refusal = checkLoopbackHost(request.headers);
      if (refusal) {
        refuse(response, request, "permission_denied", httpLayerError(refusal.httpStatus, status.PERMISSION_DENIED, refusal.message));
        return true;
      }
    }
    const caller = identify(request);
    if (!caller.ok) {
      const headers: Record<string, string> = deps.auth.tokens ? { "www-authenticate": 'Bearer realm="smtp-probe"' } : {};
      refuse(response, request, "unauthenticated", httpLayerError(401, status.UNAUTHENTICATED, caller.message, headers));
      return true;
    }
    if (route.method === "POST") {
      const refusal = checkStateChanging(request.headers, deps.scheme);
      if (refusal) {
        const code = refusal.httpStatus === 415 ? status.INVALID_ARGUMENT : status.PERMISSION_DENIED;
        refuse(response, request, refusal.httpStatus === 415 ? "invalid_argument" : "permission_denied", httpLayerError(refusal.httpStatus, code, refusal.message));
        return true;
      }
    }
    if (route.method === "DELETE") {
      const refusal = checkSameOrigin(request.headers, deps.scheme);
      if (refusal) {
        refuse(response, request, "permission_denied", httpLayerError(refusal.httpStatus, status.PERMISSION_DENIED, refusal.message));
        return true;
      }
    }
    const operations = deps.operations();
    const batches = deps.batches();
    const monitors = deps.monitors();
    if (!operations || (route.service === "smtpprobe.v1.BatchService" && !batches) || (route.service === "smtpprobe.v1.MonitorService" && !monitors)) {
      sendError(response, httpErrorOf(serviceError(status.UNAVAILABLE, `the coordinator is starting: ${deps.notReady()}; try again shortly`)));
      return true;
    }
    void handle(route, params, caller.caller, { probes: operations, batches, monitors }, request, response).catch((error: unknown) => {
      deps.logger.error({ err: error }, "internal error in the HTTP API");
      if (!response.headersSent) sendError(response, httpLayerError(500, status.INTERNAL, "internal error"));
      else response.destroy();
    });
    return true;
  };

  async function handle(
    route: ApiRoute,
    params: Record<string, string>,
    caller: string,
    ops: { probes: ProbeOperations; batches: BatchOperations | undefined; monitors: MonitorOperations | undefined },
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const operations = ops.probes;
    const batches = (): BatchOperations => {
      if (!ops.batches) throw new Error("a BatchService route without its operations (the router answers 503 before)");
      return ops.batches;
    };
    const monitors = (): MonitorOperations => {
      if (!ops.monitors) throw new Error("a MonitorService route without its operations (the router answers 503 before)");
      return ops.monitors;
    };
    switch (route.rpc) {
      case "Probe":
        return probe(caller, operations, request, response);
      case "GetProbe": {
        const probeId = params.probe_id ?? "";
        const invalid = checkProbeId(probeId);
        return answer(response, invalid ? { error: invalid } : await unary(operations, response, async () => probeReportJson(await operations.getProbe(probeId))));
      }
      case "ListRegions":
        return answer(response, await unary(operations, response, async () => listRegionsJson(await operations.listRegions())));
      case "CheckDomain":
        return checkDomain(route, caller, operations, request, response);
      case "GetDomainCheck": {
        const checkId = params.check_id ?? "";
        const invalid = checkDomainCheckId(checkId);
        return answer(response, invalid ? { error: invalid } : await unary(operations, response, async () => domainCheckReportJson(await operations.getDomainCheck(checkId))));
      }
      case "CreateBatch": {
        const json = await requestJson(route, params, caller, request, response);
        if (!json) return;
        const createRequest = CreateBatchRequest.fromJSON(json);
        return answer(response, await unary(operations, response, async () => batchJson(await batches().create(createRequest, caller))));
      }
      case "GetBatch": {
        const json = await requestJson(route, params, caller, request, response);
        if (!json) return;
        const { batchId } = GetBatchRequest.fromJSON(json);
        return answer(response, await unary(operations, response, async () => batchJson(await batches().get(batchId, caller))));
      }
      case "CancelBatch": {
        const json = await requestJson(route, params, caller, request, response);
        if (!json) return;
        const { batchId } = CancelBatchRequest.fromJSON(json);
        return answer(response, await unary(operations, response, async () => batchJson(await batches().cancel(batchId, caller))));
      }
      case "WatchBatch":
        return watchBatch(route, params, caller, operations, batches(), request, response);
      case "CreateMonitor": {
        const json = await requestJson(route, params, caller, request, response);
        if (!json) return;
        const createRequest = CreateMonitorRequest.fromJSON(json);
        return answer(response, await unary(operations, response, async () => monitorJson(await monitors().create(createRequest, caller))));
      }
      case "ListMonitors": {
        const json = await requestJson(route, params, caller, request, response);
        if (!json) return;
        const listRequest = ListMonitorsRequest.fromJSON(json);
        return answer(response, await unary(operations, response, async () => listMonitorsJson(await monitors().list(listRequest, caller))));
      }
      case "GetMonitor": {
        const json = await requestJson(route, params, caller, request, response);
        if (!json) return;
        const { monitorId } = GetMonitorRequest.fromJSON(json);
        return answer(response, await unary(operations, response, async () => monitorJson(await monitors().get(monitorId, caller))));
      }
      case "DeleteMonitor": {
        const json = await requestJson(route, params, caller, request, response);
        if (!json) return;
        const { monitorId } = DeleteMonitorRequest.fromJSON(json);
        return answer(response, await unary(operations, response, async () => monitorJson(await monitors().delete(monitorId, caller))));
      }
      case "WatchMonitor":
        return watchMonitor(route, params, caller, operations, monitors(), request, response);
      default:
        throw new Error(`no handler for the route of ${route.rpc}`);
    }
  }

  /**
   * The route's request message in the JSON mapping, checked strictly: a POST's body, a GET's
   * query parameters (those the route takes; the stream's Last-Event-ID for its resume field),
   * and the path's fields. Undefined when refused (the answer is sent).
   */
  async function requestJson(route: ApiRoute, params: Record<string, string>, caller: string, request: IncomingMessage, response: ServerResponse): Promise<Record<string, unknown> | undefined> {
    const message = apiMessage(route.request);
    let body = "{}";
    if (route.method === "POST") {
      const read = await readBody(request, MAX_RECEIVE_MESSAGE_BYTES);
      if (read === undefined) {
        request.resume();
        refuse(response, request, "invalid_argument", httpLayerError(413, status.INVALID_ARGUMENT, `the body is larger than ${MAX_RECEIVE_MESSAGE_BYTES} bytes`));
        return undefined;
      }
      body = read;
    }
    const checked = parseRequestJson(body, message);
    const lastEventId = request.headers["last-event-id"];
    const merged = mergeUrlParts(message, checked.ok ? checked.json : {}, {
      query: new URLSearchParams((request.url ?? "").split("?")[1] ?? ""),
      queryFields: route.query ?? [],
      params,
      resume: route.resumeField ? { field: route.resumeField, lastEventId: typeof lastEventId === "string" ? lastEventId : undefined } : undefined,
      route: route.path,
    });
    const violations = [...(checked.ok ? [] : checked.violations), ...(merged.ok ? [] : merged.violations)];
    if (violations.length > 0 || !merged.ok) {
      sendError(response, httpErrorOf(audit.refuse(caller, "invalid_argument", invalidArgument(violations)).error));
      return undefined;
    }
    return merged.json;
  }

  /** CheckDomain: the report, or its events as Server-Sent Events (accepted, posture, report). */
  async function checkDomain(route: ApiRoute, caller: string, operations: ProbeOperations, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const json = await requestJson(route, {}, caller, request, response);
    if (!json) return;
    const checkRequest = DomainCheckRequest.fromJSON(json);
    const cancellable = cancellableOf(response);
    if (!wantsEventStream(request)) {
      operations.calls.serve<DomainCheckReport>(
        { ok: (report) => sendJson(response, 200, domainCheckReportJson(report)), fail: (error) => sendError(response, httpErrorOf(error)) },
        (signal) => operations.checkDomain(checkRequest, caller, () => undefined, signal),
        cancellable,
      );
      return;
    }
    const sse = new SseWriter(response, SECURITY_HEADERS);
    const emit = (event: DomainCheckEvent): void => {
      sse.send(setField(event), domainCheckEventJson(event));
    };
    operations.calls.serve<DomainCheckReport>(
      {
        ok: (report) => {
          emit({ report });
          sse.end();
        },
        fail: (error) => failStream(response, sse, error),
      },
      (signal) => operations.checkDomain(checkRequest, caller, emit, signal),
      cancellable,
    );
  }

  /**
   * WatchBatch, always as Server-Sent Events: progress and item events, an item's id its
   * sequence. The next report is read once the response has taken the last (a slow reader holds
   * the watch back, never the queue).
   */
  async function watchBatch(route: ApiRoute, params: Record<string, string>, caller: string, operations: ProbeOperations, batches: BatchOperations, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const json = await requestJson(route, params, caller, request, response);
    if (!json) return;
    const watchRequest = WatchBatchRequest.fromJSON(json);
    if (operations.calls.draining) {
      metrics.requestsRejected.inc({ reason: "unavailable" });
      return sendError(response, httpErrorOf(shuttingDown()));
    }
    const sse = new SseWriter(response, SECURITY_HEADERS);
    const send = async (event: BatchEvent): Promise<void> => {
      if (!sse.send(setField(event), batchEventJson(event), event.item ? String(event.item.sequence) : undefined)) await sse.drained();
    };
    operations.calls.serve<void>(
      { ok: () => sse.end(), fail: (error) => failStream(response, sse, error) },
      (signal) => batches.watch(watchRequest, caller, send, signal),
      cancellableOf(response),
      "watch",
    );
  }

  /**
   * WatchMonitor, always as Server-Sent Events: each run a `run` event whose id is the run's
   * number, so that an EventSource's Last-Event-ID resumes it after that run (after_run). A reader
   * that lets the response's buffer grow past the bound (live), or leaves it full WATCH_STALL_MS
   * (kept events), gets an `error` event (RESOURCE_EXHAUSTED) and the end of the stream; it
   * resumes the same way.
   */
  async function watchMonitor(route: ApiRoute, params: Record<string, string>, caller: string, operations: ProbeOperations, monitors: MonitorOperations, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const json = await requestJson(route, params, caller, request, response);
    if (!json) return;
    const watchRequest = WatchMonitorRequest.fromJSON(json);
    if (operations.calls.draining) {
      metrics.requestsRejected.inc({ reason: "unavailable" });
      return sendError(response, httpErrorOf(shuttingDown()));
    }
    const sse = new SseWriter(response, SECURITY_HEADERS);
    // The watch is known to exist once the operation has looked it up: headers go out then, so
    // that a client sees 200 before the first run, which may be an interval away.
    const hasRoom = (): boolean => response.writableLength <= MAX_WATCH_BACKLOG_BYTES;
    const sink: WatchSink = {
      send(event) {
        if (!hasRoom()) return false;
        sse.send(route.eventName ?? "run", monitorEventJson(event), String(event.run));
        return true;
      },
      async room(timeoutMs) {
        if (hasRoom()) return true;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([sse.drained(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
        clearTimeout(timer);
        return hasRoom() && !response.destroyed && !response.writableEnded;
      },
    };
    operations.calls.serve<void>(
      { ok: () => sse.end(), fail: (error) => failStream(response, sse, error) },
      (signal) => monitors.watch(watchRequest, caller, sink, signal, () => sse.open()),
      cancellableOf(response),
      "watch",
    );
  }

  async function probe(caller: string, operations: ProbeOperations, request: IncomingMessage, response: ServerResponse): Promise<void> {    const body = await readBody(request, MAX_RECEIVE_MESSAGE_BYTES);
    if (body === undefined) {
      const error = httpLayerError(413, status.INVALID_ARGUMENT, `the body is larger than ${MAX_RECEIVE_MESSAGE_BYTES} bytes (a ProbeRequest is a few KiB)`);
      request.resume();
      return refuse(response, request, "invalid_argument", error);
    }
    const checked = parseRequestJson(body, apiMessage("smtpprobe.v1.ProbeRequest"));
    if (!checked.ok) {
      const error = audit.refuse(caller, "invalid_argument", invalidArgument(checked.violations)).error;
      return sendError(response, httpErrorOf(error));
    }
    const probeRequest = ProbeRequest.fromJSON(checked.json);
    const traceparent = request.headers[TRACEPARENT];
    const call = { caller, deadline: Number.POSITIVE_INFINITY, traceparent: typeof traceparent === "string" ? traceparent : undefined };
    const cancellable = cancellableOf(response);
    if (!wantsEventStream(request)) {
      operations.calls.serve<ProbeReport>(
        {
          ok: (report) => {
            metrics.probes.inc({ complete: String(report.complete), call: "unary" });
            sendJson(response, 200, probeReportJson(report));
          },
          fail: (error) => sendError(response, httpErrorOf(error)),
        },
        (signal) => operations.probe(probeRequest, call, { signal }),
        cancellable,
      );
      return;
    }
    // The stream's headers go with its first event: an error before it (a quota, no region) is
    // still an HTTP error with its status, Retry-After and all.
    const sse = new SseWriter(response, SECURITY_HEADERS);
    const emit = (event: ProbeEvent): void => {
      sse.send(setField(event), probeEventJson(event));
    };
    operations.calls.serve<ProbeReport>(
      {
        ok: (report) => {
          metrics.probes.inc({ complete: String(report.complete), call: "stream" });
          emit({ report });
          sse.end();
        },
        fail: (error) => failStream(response, sse, error),
      },
      (signal) => operations.probe(probeRequest, call, { signal, emit }),
      cancellable,
    );
  }
}

/** A short call (GetProbe, ListRegions): refused while draining, else tracked until answered. */
function unary(operations: ProbeOperations, response: ServerResponse, work: () => Promise<unknown>): Promise<Answer> {
  if (operations.calls.draining) {
    metrics.requestsRejected.inc({ reason: "unavailable" });
    return Promise.resolve({ error: shuttingDown() });
  }
  return new Promise((resolve) => {
    operations.calls.serve<unknown>({ ok: (json) => resolve({ json }), fail: (error) => resolve({ error }) }, work, cancellableOf(response));
  });
}

function answer(response: ServerResponse, result: Answer): void {
  if (result === undefined || response.writableEnded || response.destroyed) return;
  if ("json" in result) sendJson(response, 200, result.json);
  else sendError(response, httpErrorOf(result.error));
}

/** An event's name in the stream: its oneof's field that is set (accepted, progress, task, report; posture; item). */
function setField(event: ProbeEvent | DomainCheckEvent | BatchEvent): string {
  return Object.entries(event).find(([, value]) => value !== undefined)?.[0] ?? "unknown";
}

/** A stream's error: an HTTP error before its first event, an `error` event after it. */
function failStream(response: ServerResponse, sse: SseWriter, error: ServiceError): void {
  if (!sse.started) return sendError(response, httpErrorOf(error));
  sse.send("error", httpErrorOf(error).body);
  sse.end();
}

function wantsEventStream(request: IncomingMessage): boolean {
  return (request.headers.accept ?? "").split(",").some((type) => type.split(";")[0]!.trim().toLowerCase() === "text/event-stream");
}

/** The client went away before its answer was written: the call is cancelled, as a gRPC call is. */
function cancellableOf(response: ServerResponse): CancellableCall {
  return {
    on: (_event, listener) => response.on("close", () => {
      if (!response.writableFinished) listener();
    }),
  };
}

/** The body as text, or undefined when it is larger than `limit` bytes. */
function readBody(request: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers["content-length"] ?? 0);
    if (declared > limit) return resolve(undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners("data");
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

export function sendJson(response: ServerResponse, httpStatus: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  response.writeHead(httpStatus, { ...JSON_HEADERS, ...headers }).end(JSON.stringify(body));
}

function sendError(response: ServerResponse, error: HttpError): void {
  sendJson(response, error.httpStatus, error.body, error.headers);
}

function bodyCode(error: HttpError): number {
  return (error.body as { code?: number }).code ?? status.UNKNOWN;
}

function bodyMessage(error: HttpError): string {
  return (error.body as { message?: string }).message ?? "";
}

