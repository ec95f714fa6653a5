// `/probe` on the coordinator's metrics port: a multi-target exporter in the manner of
// blackbox_exporter, so that an existing Prometheus probes mail servers through smtp-probe with
// the relabelling its users know (deploy/prometheus/). A scrape is one probe of one port from the
// regions asked (every live region by default), run through the same ProbeService operation as a
// gRPC call — validation, target policy, the caller quota of SCRAPE_CALLER, the coordinator-wide
// bound, the destination throttle, duplicate joining, draining — under the scrape's own timeout.
// The answer is the report as gauges (probe-exposition.ts); a refused scrape is an HTTP error with
// the reason in words, which Prometheus shows as the target's error (and up == 0).
import type { ServerResponse } from "node:http";
import { status, type ServiceError } from "@grpc/grpc-js";
import type { ProbeReport } from "../../../gen/smtpprobe/v1/probe_service.js";
import type { HttpRoute } from "../../../lib/metrics-server.js";
import { metrics } from "../../../lib/metrics.js";
import { TRACEPARENT } from "../../../lib/trace-context.js";
import type { CancellableCall } from "../call-tracker.js";
import type { ProbeOperations } from "../probe-service.js";
import { httpStatusOf } from "./http-status.js";
import { parseScrapeRequest, SCRAPE_TIMEOUT_HEADER } from "./probe-exporter-params.js";
import { EXPOSITION_CONTENT_TYPE, probeExposition } from "./probe-exposition.js";

/**
 * The caller a scrape probes as: the metrics port takes no caller credentials (scrapers and
 * orchestrators reach it without the API's), so every scrape shares this caller's quota.
 */
export const SCRAPE_CALLER = "prometheus";

export const PROBE_PATH = "/probe";

export interface ProbeExporterDeps {
  /** The operations once the coordinator is composed; undefined while it starts (503 meanwhile). */
  operations(): ProbeOperations | undefined;
}

const TEXT_HEADERS = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };

export function probeExporterRoute(deps: ProbeExporterDeps): HttpRoute {
  return (request, response, path) => {
    if (path !== PROBE_PATH) return false;
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { ...TEXT_HEADERS, allow: "GET, HEAD" }).end(`${request.method} is not a method of ${PROBE_PATH} (GET)\n`);
      return true;
    }
    const query = new URL(request.url ?? PROBE_PATH, "http://scrape").searchParams;
    const parsed = parseScrapeRequest(query, request.headers[SCRAPE_TIMEOUT_HEADER], Date.now());
    if (!parsed.ok) {
      metrics.requestsRejected.inc({ reason: "invalid_argument" });
      sendText(response, 400, `${parsed.message}\n`);
      return true;
    }
    const operations = deps.operations();
    if (!operations) {
      sendText(response, 503, "the coordinator is starting; try again shortly\n");
      return true;
    }
    const { request: probeRequest, port, deadline } = parsed.value;
    const traceparent = request.headers[TRACEPARENT];
    const call = { caller: SCRAPE_CALLER, deadline, traceparent: typeof traceparent === "string" ? traceparent : undefined };
    operations.calls.serve<ProbeReport>(
      {
        ok: (report) => {
          metrics.probes.inc({ complete: String(report.complete), call: "scrape" });
          if (response.headersSent) return;
          response.writeHead(200, { "content-type": EXPOSITION_CONTENT_TYPE, "cache-control": "no-store" }).end(probeExposition(report, port));
        },
        fail: (error) => sendText(response, httpStatusOf(error.code ?? status.UNKNOWN), `${describeRefusal(error)}\n`),
      },
      (signal) => operations.probe(probeRequest, call, { signal }),
      cancellableOf(response),
    );
    return true;
  };
}

/** "INVALID_ARGUMENT: host: ..." — the gRPC status name and its message, fields named as in ProbeRequest. */
function describeRefusal(error: ServiceError): string {
  const name = Object.entries(status).find(([, code]) => code === error.code)?.[0] ?? "UNKNOWN";
  return `${name}: ${error.details ?? error.message}`;
}

function sendText(response: ServerResponse, httpStatus: number, text: string): void {
  if (response.headersSent) return;
  response.writeHead(httpStatus, TEXT_HEADERS).end(text);
}

/** The scraper went away (its timeout) before the answer: the call is cancelled. */
function cancellableOf(response: ServerResponse): CancellableCall {
  return {
    on: (_event, listener) => response.on("close", () => {
      if (!response.writableFinished) listener();
    }),
  };
}
