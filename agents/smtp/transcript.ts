import { Direction, type Transcript, type TranscriptEntry } from "../../gen/smtpprobe/v1/handshake.js";

/** Control and non-ASCII-printable characters as \xNN, so a transcript is always one safe line. */
export function escapeLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * Records every line both ways, with its offset from the start of the handshake, up to a bound
 * in bytes; past it the transcript is marked truncated and later entries are dropped.
 */
export class TranscriptRecorder {
  private readonly entries: TranscriptEntry[] = [];
  private bytes = 0;
  private truncated = false;

  constructor(
    private readonly startedAt: number,
    private readonly maxBytes: number,
  ) {}

  client(text: string, tls: boolean): void {
    this.add(Direction.DIRECTION_CLIENT, text, tls);
  }

  server(text: string, tls: boolean): void {
    this.add(Direction.DIRECTION_SERVER, text, tls);
  }

  event(text: string, tls: boolean): void {
    this.add(Direction.DIRECTION_EVENT, text, tls);
  }

  toMessage(): Transcript {
    return { entries: this.entries, truncated: this.truncated, bytes: this.bytes };
  }

  private add(direction: Direction, raw: string, tls: boolean): void {
    if (this.truncated) return;
    const text = escapeLine(raw);
    if (this.bytes + text.length > this.maxBytes) {
      this.truncated = true;
      return;
    }
    this.bytes += text.length;
    this.entries.push({ offsetMs: elapsedSince(this.startedAt), direction, tls, text });
  }
}

/** Milliseconds since a `performance.now()` reading, to 0.01 ms. */
export function elapsedSince(start: number): number {
  return round2(performance.now() - start);
}

export function round2(ms: number): number {
  return Math.round(ms * 100) / 100;
}
