// The HTTP side port of every process: /metrics for Prometheus, /healthz (the process is up) and
// /readyz (it can do its work: connected to NATS) for orchestrators. An agent serves only these;
// the coordinator's HTTP listener is this server too, with its page and HTTP/JSON API mounted as
// routes beside them (services/coordinator/http/), over TLS when the coordinator has a certificate.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { parseHostPort } from "./config-schemas.js";
import { formatHostPort } from "./host-port.js";
import { ListenError } from "./listen-error.js";
import { registry } from "./metrics.js";

export interface MetricsServer {
  port: number;
  /** "http" or "https". */
  scheme: "http" | "https";
  close(): Promise<void>;
}

/**
 * More of a process's HTTP surface, served beside /metrics, /healthz and /readyz: answers the
 * request and returns true, or returns false to leave it to the next (and at last to the 404).
 * The coordinator mounts its HTTP features here, each in a module of its own.
 */
export type HttpRoute = (request: IncomingMessage, response: ServerResponse, path: string) => boolean;

/**
 * HTTPS instead of HTTP. With a client CA the TLS layer asks every client for a certificate and
 * verifies it against the CA, but does not refuse the connection without one: /healthz, /readyz
 * and /metrics stay open to load balancers and scrapers (as gRPC health is), and the routes that
 * need a caller see `socket.authorized` (services/coordinator/http-caller.ts) and answer 401.
 */
export interface HttpTls {
  certPem: string;
  keyPem: string;
  clientCaPem?: string;
}

/** Bounded time to receive a request's headers and body (not the answer: a probe streams for minutes). */
const REQUEST_TIMEOUT_MS = 10_000;

export async function startMetricsServer(options: { listen: string; ready: () => boolean; routes?: readonly HttpRoute[]; tls?: HttpTls }): Promise<MetricsServer> {
  const { host, port } = parseHostPort(options.listen, { allowZero: true })!;
  const handle = (request: IncomingMessage, response: ServerResponse): void => {
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
  };
  const tls = options.tls;
  const server: Server = tls
    ? createTlsServer(
        { cert: tls.certPem, key: tls.keyPem, ca: tls.clientCaPem, requestCert: tls.clientCaPem !== undefined, rejectUnauthorized: false },
        handle,
      )
    : createServer(handle);
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
    scheme: tls ? "https" : "http",
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
