// One connection of the TLS scan: connect (through the rules of extra-connections.ts), speak SMTP
// up to STARTTLS's 220 (banner, EHLO, STARTTLS) unless the port is implicit TLS, send one
// hand-built ClientHello, and read the server's first flight until it is whole, an alert comes,
// the connection ends, the byte bound or the timeout is reached. The handshake is never finished:
// the connection is closed once the flight is read. Every wait has a timeout; every buffer a bound.
import type { Socket } from "node:net";
import { isOpened, type OpenConnection } from "../extra-connections.js";
import { ReplyReader, type ReplyReaderLimits, type SmtpReply } from "../reply-reader.js";
import { escapeLine } from "../transcript.js";
import { ServerFlightReader, type ServerFlight } from "./server-flight.js";

export interface ExchangeSettings {
  /** TLS from the first byte (RFC 8314): no SMTP before the hello. */
  implicit: boolean;
  /** The name sent in EHLO. */
  ehloName: string;
  bannerMs: number;
  commandMs: number;
  /** How long the server has to answer the hello. */
  answerMs: number;
  replyLimits: ReplyReaderLimits;
  /** Bytes of the server's flight read at most (a chain fits in well under this). */
  maxFlightBytes: number;
  signal?: AbortSignal;
}

/** How the reading of the flight ended. */
/** "aborted": the scan itself stopped (its deadline, the caller's cancel), not the server. */
export type FlightEnd = "whole" | "closed" | "reset" | "timeout" | "aborted";

export type HelloExchange =
  | { kind: "answered"; flight: ServerFlight; end: FlightEnd; partial: boolean }
  /** No connection: policy, throttle, connect failure, cancel (extra-connections.ts). */
  | { kind: "no_connection"; reason: string; final: boolean }
  /** The SMTP dialogue before the hello failed: a refused banner or STARTTLS, silence, a close. */
  | { kind: "smtp_failed"; reason: string };

export async function exchangeHello(open: OpenConnection, hello: Buffer, settings: ExchangeSettings): Promise<HelloExchange> {
  const connection = await open(settings.signal);
  if (!isOpened(connection)) return { kind: "no_connection", reason: connection.reason, final: connection.final };
  const wire = new Wire(connection.socket, settings.signal);
  try {
    if (!settings.implicit) {
      const failed = await startTlsDialogue(wire, settings);
      if (failed) return { kind: "smtp_failed", reason: failed };
    }
    connection.socket.write(hello);
    const reader = new ServerFlightReader({ maxBytes: settings.maxFlightBytes });
    const end = await wire.readFlight(reader, settings.answerMs);
    return { kind: "answered", flight: reader.result, end, partial: reader.partial };
  } finally {
    wire.detach();
    connection.close();
  }
}

/** Banner, EHLO, STARTTLS; undefined once the server said 220 to STARTTLS, else why not. */
async function startTlsDialogue(wire: Wire, settings: ExchangeSettings): Promise<string | undefined> {
  const reader = new ReplyReader(settings.replyLimits);
  const expect = async (what: string, code: number, timeoutMs: number): Promise<string | undefined> => {
    const got = await wire.readReply(reader, timeoutMs);
    if (typeof got === "string") return `${what}: ${got}`;
    if (got.code === code) return undefined;
    return `${what} was answered ${got.code} ${escapeLine(got.lines[0] ?? "").slice(0, 120)}`;
  };
  const banner = await expect("the banner", 220, settings.bannerMs);
  if (banner) return banner;
  wire.write(`EHLO ${settings.ehloName}\r\n`);
  const ehlo = await expect("EHLO", 250, settings.commandMs);
  if (ehlo) return ehlo;
  wire.write("STARTTLS\r\n");
  const starttls = await expect("STARTTLS", 220, settings.commandMs);
  if (starttls) return starttls;
  // RFC 3207 §6: what came after the 220 and before our hello is not the server's answer to it.
  reader.takeBuffered();
  wire.dropBuffered();
  return undefined;
}

/** The socket's bytes, read on demand with a timeout; a close, a reset and a cancel end every wait. */
class Wire {
  private buffered: Buffer[] = [];
  private ended: "closed" | "reset" | "aborted" | undefined;
  private wake: (() => void) | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.buffered.push(chunk);
    this.wake?.();
  };
  private readonly onEnd = (): void => {
    this.ended ??= "closed";
    this.wake?.();
  };
  private readonly onError = (): void => {
    this.ended ??= "reset";
    this.wake?.();
  };
  private readonly onAbort = (): void => {
    this.ended ??= "aborted";
    this.socket.destroy();
    this.wake?.();
  };

  constructor(
    private readonly socket: Socket,
    private readonly signal: AbortSignal | undefined,
  ) {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onEnd);
    socket.on("error", this.onError);
    signal?.addEventListener("abort", this.onAbort, { once: true });
    if (signal?.aborted) this.onAbort();
  }

  write(data: string | Buffer): void {
    if (!this.ended) this.socket.write(data);
  }

  dropBuffered(): void {
    this.buffered = [];
  }

  detach(): void {
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("close", this.onEnd);
    this.socket.off("error", this.onError);
    this.signal?.removeEventListener("abort", this.onAbort);
  }

  /** The next SMTP reply, or why none came. */
  async readReply(reader: ReplyReader, timeoutMs: number): Promise<SmtpReply | string> {
    let reply: SmtpReply | undefined = reader.next();
    if (reply) return reply;
    const end = await this.until(timeoutMs, (chunk) => {
      reader.push(chunk);
      reply ??= reader.next();
      return reply !== undefined || reader.error !== undefined;
    });
    if (reply) return reply;
    if (reader.error) return `protocol error: ${reader.error.message}`;
    if (end === "timeout") return `no reply within ${timeoutMs} ms`;
    if (end === "aborted") return "the scan was stopped";
    return end === "reset" ? "the connection was reset" : "the server closed the connection";
  }

  /** Feeds the flight reader until it is done, or the connection or the time ends. */
  async readFlight(reader: ServerFlightReader, timeoutMs: number): Promise<FlightEnd> {
    return this.until(timeoutMs, (chunk) => {
      reader.push(chunk);
      return reader.done;
    });
  }

  /** Hands every chunk to `take` until it returns true ("whole"), the connection ends, or the time runs out. */
  private async until(timeoutMs: number, take: (chunk: Buffer) => boolean): Promise<FlightEnd> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      while (this.buffered.length > 0) {
        if (take(this.buffered.shift()!)) return "whole";
      }
      if (this.ended) return this.ended;
      const left = deadline - performance.now();
      if (left <= 0) return "timeout";
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }
}
