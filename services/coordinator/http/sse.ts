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

export function formatSseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
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

  send(event: string, data: unknown): void {
    if (this.response.writableEnded || this.response.destroyed) return;
    if (!this.response.headersSent) {
      this.response.writeHead(200, { ...SSE_HEADERS, ...this.headers });
      this.timer = setInterval(() => this.response.write(": keep-alive\n\n"), SSE_KEEPALIVE_MS);
      this.timer.unref();
    }
    this.response.write(formatSseEvent(event, data));
  }

  end(): void {
    clearInterval(this.timer);
    if (!this.response.writableEnded) this.response.end();
  }
}
