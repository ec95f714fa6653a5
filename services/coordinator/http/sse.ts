// Server-Sent Events (the WHATWG HTML "text/event-stream" format): each event one `event:` line
// and one `data:` line of JSON (JSON.stringify escapes every line break, so one line always does).
import type { ServerResponse } from "node:http";

/** Proxies close connections that are quiet for a minute or so: a comment line well before that. */
export const SSE_KEEPALIVE_MS = 15_000;

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-store",
  // nginx buffers responses by default; an event must reach the client as it happens.
  "x-accel-buffering": "no",
} as const;

/** One event; `id` (when given) is what an EventSource sends back as Last-Event-ID when it reconnects. */
export function formatSseEvent(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Writes events to a response whose SSE headers are sent with the first event; keeps it alive. */
export class SseWriter {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly response: ServerResponse,
    private readonly headers: Readonly<Record<string, string>>,
  ) {}

  get started(): boolean {
    return this.response.headersSent;
  }

  /** Writes the event; false when the response's buffer is full (wait for `drained`) or it is gone. */
  send(event: string, data: unknown, id?: string): boolean {
    if (this.response.writableEnded || this.response.destroyed) return false;
    this.open();
    return this.response.write(formatSseEvent(event, data, id));
  }

  /** Sends the headers now (a stream whose first event may be long in coming); once. */
  open(): void {
    if (this.response.headersSent || this.response.writableEnded || this.response.destroyed) return;
    this.response.writeHead(200, { ...SSE_HEADERS, ...this.headers });
    // Flushed now: node holds the headers back until the first write otherwise.
    this.response.flushHeaders();
    this.timer = setInterval(() => this.response.write(": keep-alive\n\n"), SSE_KEEPALIVE_MS);
    this.timer.unref();
  }

  /** Resolves when the response can take more (drain), or is gone (close). */
  drained(): Promise<void> {
    if (this.response.writableEnded || this.response.destroyed || !this.response.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.response.off("drain", done);
        this.response.off("close", done);
        resolve();
      };
      this.response.on("drain", done);
      this.response.on("close", done);
    });
  }

  end(): void {
    clearInterval(this.timer);
    if (!this.response.writableEnded) this.response.end();
  }
}
