/**
 * Incremental reader of SMTP replies (RFC 5321 §4.2). Bytes go in as they arrive, in chunks of
 * any size; complete lines come out for the transcript and complete replies for the session.
 * The same bytes give the same lines and replies however they are chunked.
 *
 * Bounds: a line longer than `maxLineOctets` or a reply of more than `maxReplyLines` lines is a
 * protocol error, and the reader stops there, so a hostile server costs bounded memory.
 */

export interface SmtpReply {
  code: number;
  /** The text of each line, code and separator removed. */
  lines: string[];
}

export interface ReplyReaderLimits {
  maxLineOctets: number;
  maxReplyLines: number;
}

export interface ReceivedLine {
  /** The line as received, CR/LF removed, decoded as UTF-8. */
  text: string;
  octets: number;
}

export type ReplyErrorKind = "line_too_long" | "too_many_lines" | "malformed";

export class ReplyProtocolError extends Error {
  override readonly name = "ReplyProtocolError";
  constructor(
    readonly kind: ReplyErrorKind,
    message: string,
    readonly line?: string,
  ) {
    super(message);
  }
}

const LF = 0x0a;
const CR = 0x0d;

interface PendingReply {
  reply: SmtpReply;
  raw: Buffer[];
}

export class ReplyReader {
  private partial: Buffer[] = [];
  private partialOctets = 0;
  private current: PendingReply | undefined;
  private readonly complete: PendingReply[] = [];
  private failure: ReplyProtocolError | undefined;
  private longest = 0;

  constructor(private readonly limits: ReplyReaderLimits) {}

  /** The error that stopped the reader, if any; it stays set. */
  get error(): ReplyProtocolError | undefined {
    return this.failure;
  }

  /** The longest line seen so far, in octets, without CRLF. */
  get longestLineOctets(): number {
    return this.longest;
  }

  /** Feeds bytes; returns the complete lines they finished, in order. */
  push(chunk: Buffer): ReceivedLine[] {
    const lines: ReceivedLine[] = [];
    let start = 0;
    while (!this.failure && start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      const end = lf === -1 ? chunk.length : lf + 1;
      const piece = chunk.subarray(start, end);
      start = end;
      if (this.partialOctets + piece.length - (lf === -1 ? 0 : 1) > this.limits.maxLineOctets + 1) {
        // +1 leaves room for the CR of a CRLF that a split chunk has not finished yet.
        this.fail("line_too_long", `reply line longer than ${this.limits.maxLineOctets} octets`);
        break;
      }
      this.partial.push(piece);
      this.partialOctets += piece.length;
      if (lf === -1) break;
      const raw = Buffer.concat(this.partial, this.partialOctets);
      this.partial = [];
      this.partialOctets = 0;
      const line = this.takeLine(raw);
      if (line) lines.push(line);
    }
    return lines;
  }

  /** The next complete reply, or undefined when none is complete yet. */
  next(): SmtpReply | undefined {
    return this.complete.shift()?.reply;
  }

  /**
   * Every byte received but not yet handed out as a reply: queued replies, the lines of an
   * unfinished reply and an unfinished line. Clears them. Used at STARTTLS (RFC 3207 §6).
   */
  takeBuffered(): Buffer {
    const parts = [
      ...this.complete.flatMap((p) => p.raw),
      ...(this.current?.raw ?? []),
      ...this.partial,
    ];
    this.complete.length = 0;
    this.current = undefined;
    this.partial = [];
    this.partialOctets = 0;
    return Buffer.concat(parts);
  }

  private takeLine(raw: Buffer): ReceivedLine | undefined {
    let end = raw.length - 1; // drop LF
    if (end > 0 && raw[end - 1] === CR) end -= 1; // and CR; a bare LF is tolerated
    const octets = end;
    if (octets > this.limits.maxLineOctets) {
      this.fail("line_too_long", `reply line longer than ${this.limits.maxLineOctets} octets`);
      return undefined;
    }
    this.longest = Math.max(this.longest, octets);
    const text = raw.toString("utf8", 0, end);
    const line: ReceivedLine = { text, octets };
    this.addToReply(text, raw);
    return line;
  }

  private addToReply(text: string, raw: Buffer): void {
    // RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
    //                             Reply-code [ SP textstring ] CRLF
    const match = /^([2-5][0-9][0-9])([- ]|$)/.exec(text);
    if (!match) {
      this.fail("malformed", "reply line does not start with a three-digit code", text);
      return;
    }
    const code = Number(match[1]);
    const last = match[2] !== "-";
    const body = text.slice(4);
    if (this.current && this.current.reply.code !== code) {
      this.fail("malformed", `reply code changed from ${this.current.reply.code} to ${code} inside one reply`, text);
      return;
    }
    this.current ??= { reply: { code, lines: [] }, raw: [] };
    this.current.reply.lines.push(body);
    this.current.raw.push(raw);
    if (this.current.reply.lines.length > this.limits.maxReplyLines) {
      this.fail("too_many_lines", `reply longer than ${this.limits.maxReplyLines} lines`);
      return;
    }
    if (last) {
      this.complete.push(this.current);
      this.current = undefined;
    }
  }

  private fail(kind: ReplyErrorKind, message: string, line?: string): void {
    this.failure = new ReplyProtocolError(kind, message, line);
    this.partial = [];
    this.partialOctets = 0;
  }
}
