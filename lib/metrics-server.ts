// The HTTP side port of every process: /metrics for Prometheus, /healthz (the process is up) and
// /readyz (it can do its work: connected to NATS) for orchestrators. A port of its own, apart from
// the gRPC API, so a scrape or a probe never needs caller credentials and never competes with calls.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseHostPort } from "./config-schemas.js";
import { formatHostPort } from "./host-port.js";
import { ListenError } from "./listen-error.js";
import { registry } from "./metrics.js";

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * More of a process's HTTP surface, served beside /metrics, /healthz and /readyz: answers the
 * request and returns true, or returns false to leave it to the next (and at last to the 404).
 * The coordinator mounts its HTTP features here, each in a module of its own.
 */
export type HttpRoute = (request: IncomingMessage, response: ServerResponse, path: string) => boolean;

/** Bounded time for a slow scraper or a half-open connection. */
const REQUEST_TIMEOUT_MS = 10_000;

export async function startMetricsServer(options: { listen: string; ready: () => boolean; routes?: readonly HttpRoute[] }): Promise<MetricsServer> {
  const { host, port } = parseHostPort(options.listen, { allowZero: true })!;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    for (const route of options.routes ?? []) if (route(request, response, path)) return;
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
      );
    } else if (path === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ready = options.ready();
      response.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready: no NATS connection\n");
    } else {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: /metrics, /healthz, /readyz\n");
    }
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException): void => reject(new ListenError(formatHostPort(host, port), error.code, { cause: error }));
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
