// Requests to the coordinator's HTTP listener as a caller sends them: node:http or node:https (with
// a CA to trust and a client certificate for mutual TLS), the whole answer read with a bound, and a
// probe's Server-Sent Events read as they arrive. No mocks: real sockets to a real listener.
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { SseParser, type SseEvent } from "../../web/sse-parser.js";

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body as JSON (throws when it is not). */
  json(): unknown;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** HTTPS: the CA that issued the server's certificate, and a client certificate. */
  tls?: { ca: string; cert?: string; key?: string };
  timeoutMs?: number;
  /** Each SSE event as it arrives (the answer still resolves at the end of the stream). */
  onEvent?: (event: SseEvent, atMs: number) => void;
}

const MAX_BODY = 64 * 1024 * 1024;

export function fetchHttp(url: string, options: HttpOptions = {}): Promise<HttpAnswer> {
  const target = new URL(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(
      target,
      {
        method: options.method ?? "GET",
        headers: options.headers,
        ...(options.tls ? { ca: options.tls.ca, cert: options.tls.cert, key: options.tls.key, servername: "localhost" } : {}),
        timeout: options.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const parser = new SseParser();
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY) return req.destroy(new Error("answer too large"));
          chunks.push(chunk);
          if (options.onEvent) for (const event of parser.push(chunk.toString("utf8"))) options.onEvent(event, performance.now() - started);
        });
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} in time`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A POST of JSON, as the API wants it. */
export function postJson(url: string, body: unknown, options: HttpOptions = {}): Promise<HttpAnswer> {
  return fetchHttp(url, { ...options, method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json", ...options.headers } });
}

/** The SSE events of an answer's body, in order. */
export function sseEvents(text: string): SseEvent[] {
  return new SseParser().push(text);
}
