// `/metrics` on the coordinator's metrics port with --scrape-monitors: the process's own series,
// then the monitors' latest runs (monitor/monitor-metrics.ts), in one answer. Only this port gets
// the monitors' series: the HTTP listener's /metrics (--http-listen) stays the process's alone.
import type { HttpRoute } from "../../../lib/metrics-server.js";
import { registry } from "../../../lib/metrics.js";

export interface MonitorSeriesSource {
  /** The monitors' families in the text format 0.0.4 (prom-client's content type for the process's). */
  metrics(): string;
}

/** Answers /metrics; `monitors` is undefined while the coordinator starts (the process's series only meanwhile). */
export function monitorMetricsRoute(monitors: () => MonitorSeriesSource | undefined): HttpRoute {
  return (request, response, path) => {
    if (path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) return false;
    registry.metrics().then(
      (own) => response.writeHead(200, { "content-type": registry.contentType }).end(own + (monitors()?.metrics() ?? "")),
      (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
    );
    return true;
  };
}
