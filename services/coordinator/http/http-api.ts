// The HTTP/JSON API: the ProbeService at resource paths (api-routes.ts), in the protobuf JSON
// mapping, for services that do not speak gRPC and for the page. A thin gateway on node:http: the
// caller is known by the same tokens and certificates as over gRPC (http-caller.ts), the request is
// checked strictly against its descriptor (request-json.ts) and then goes through the same
// operations as a gRPC call (probe-service.ts: validation, policy, quotas, duplicate joining,
// draining), and an error is google.rpc.Status with its HTTP status (http-status.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import { status, type ServiceError } from "@grpc/grpc-js";
import { ProbeRequest, type ProbeEvent, type ProbeReport } from "../../../gen/smtpprobe/v1/probe_service.js";
import { DomainCheckRequest, type DomainCheckEvent, type DomainCheckReport } from "../../../gen/smtpprobe/v1/domain.js";
import { domainCheckEventJson, domainCheckReportJson, listRegionsJson, probeEventJson, probeReportJson } from "../../../lib/proto-json.js";
import type { Logger } from "../../../lib/logger.js";
import type { HttpRoute } from "../../../lib/metrics-server.js";
import { metrics, type RejectReason } from "../../../lib/metrics.js";
import { TRACEPARENT } from "../../../lib/trace-context.js";
import { AuditTrail } from "../audit-trail.js";
import { shuttingDown, type CancellableCall } from "../call-tracker.js";
import type { CallerAuth } from "../caller-auth.js";
import { invalidArgument, serviceError } from "../grpc-errors.js";
import { httpCallerAuth } from "../http-caller.js";
import { checkCheckId, checkProbeId, type ProbeOperations } from "../probe-service.js";
import { MAX_RECEIVE_MESSAGE_BYTES } from "../server.js";
import { apiMessage } from "../../../lib/api-schema.js";
import { API_ROUTES, routeMatcher, type ApiRoute } from "./api-routes.js";
import { httpErrorOf, httpLayerError, type HttpError } from "./http-status.js";
import { parseRequestJson } from "./request-json.js";
import { checkLoopbackHost, checkStateChanging } from "./request-guard.js";
import { SECURITY_HEADERS } from "./security-headers.js";
import { SseWriter } from "./sse.js";

export interface HttpApiDeps {
  /** The operations once the coordinator is composed; undefined while it starts (503 meanwhile). */
  operations(): ProbeOperations | undefined;
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
    const operations = deps.operations();
    if (!operations) {
      sendError(response, httpErrorOf(serviceError(status.UNAVAILABLE, `the coordinator is starting: ${deps.notReady()}; try again shortly`)));
      return true;
    }
    void handle(route, params, caller.caller, operations, request, response).catch((error: unknown) => {
      deps.logger.error({ err: error }, "internal error in the HTTP API");
      if (!response.headersSent) sendError(response, httpLayerError(500, status.INTERNAL, "internal error"));
      else response.destroy();
    });
    return true;
  };

  async function handle(route: ApiRoute, params: Record<string, string>, caller: string, operations: ProbeOperations, request: IncomingMessage, response: ServerResponse): Promise<void> {
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
        return checkDomain(caller, operations, request, response);
      case "GetDomainCheck": {
        const checkId = params.check_id ?? "";
        const invalid = checkCheckId(checkId);
        return answer(response, invalid ? { error: invalid } : await unary(operations, response, async () => domainCheckReportJson(await operations.getDomainCheck(checkId))));
      }
      default:
        throw new Error(`no handler for the route of ${route.rpc}`);
    }
  }

  async function probe(caller: string, operations: ProbeOperations, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request, MAX_RECEIVE_MESSAGE_BYTES);
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
    const emit = (event: ProbeEvent): void => sse.send(eventName(event), probeEventJson(event));
    operations.calls.serve<ProbeReport>(
      {
        ok: (report) => {
          metrics.probes.inc({ complete: String(report.complete), call: "stream" });
          emit({ report });
          sse.end();
        },
        fail: (error) => {
          if (!sse.started) return sendError(response, httpErrorOf(error));
          sse.send("error", httpErrorOf(error).body);
          sse.end();
        },
      },
      (signal) => operations.probe(probeRequest, call, { signal, emit }),
      cancellable,
    );
  }

  /** CheckDomain: the report, or with `Accept: text/event-stream` its events, as for a probe. */
  async function checkDomain(caller: string, operations: ProbeOperations, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request, MAX_RECEIVE_MESSAGE_BYTES);
    if (body === undefined) {
      request.resume();
      return refuse(response, request, "invalid_argument", httpLayerError(413, status.INVALID_ARGUMENT, `the body is larger than ${MAX_RECEIVE_MESSAGE_BYTES} bytes`));
    }
    const checked = parseRequestJson(body, apiMessage("smtpprobe.v1.DomainCheckRequest"));
    if (!checked.ok) return sendError(response, httpErrorOf(audit.refuse(caller, "invalid_argument", invalidArgument(checked.violations)).error));
    const domainRequest = DomainCheckRequest.fromJSON(checked.json);
    const cancellable = cancellableOf(response);
    const stream = wantsEventStream(request) ? new SseWriter(response, SECURITY_HEADERS) : undefined;
    const emit = (event: DomainCheckEvent): void => stream?.send(domainEventName(event), domainCheckEventJson(event));
    operations.calls.serve<DomainCheckReport>(
      {
        ok: (report) => {
          if (!stream) return sendJson(response, 200, domainCheckReportJson(report));
          emit({ report });
          stream.end();
        },
        fail: (error) => {
          if (!stream?.started) return sendError(response, httpErrorOf(error));
          stream.send("error", httpErrorOf(error).body);
          stream.end();
        },
      },
      (signal) => operations.checkDomain(domainRequest, caller, emit, signal),
      cancellable,
    );
  }
}

function domainEventName(event: DomainCheckEvent): string {
  if (event.accepted) return "accepted";
  if (event.posture) return "posture";
  return "report";
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

/** The event's name in the stream: the ProbeEvent's field that is set. */
function eventName(event: ProbeEvent): string {
  if (event.accepted) return "accepted";
  if (event.progress) return "progress";
  if (event.task) return "task";
  return "report";
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

