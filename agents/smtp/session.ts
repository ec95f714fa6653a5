import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import type { Socket } from "node:net";
import { ReplyReader, type ReplyReaderLimits, type ReplyProtocolError, type SmtpReply } from "./reply-reader.js";
import { ReplyMoments, UNSOLICITED, type ReplyMoment } from "./reply-moment.js";
import type { TranscriptRecorder } from "./transcript.js";

/**
 * Waits for a socket to reach `event` ("connect", "secureConnect"): rejects with the socket's
 * error, with a closed failure when it closes first, or with a timeout failure.
 */
export function waitForSocketEvent(socket: Socket, event: "connect" | "secureConnect", timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      socket.off(event, onEvent);
      socket.off("error", settle);
      socket.off("close", onClose);
      if (error) reject(error);
      else resolve();
    };
    const onEvent = (): void => settle();
    const onClose = (): void => settle(new SessionWaitError({ kind: "closed" }));
    const timer = setTimeout(() => settle(new SessionWaitError({ kind: "timeout", timeoutMs })), timeoutMs);
    socket.once(event, onEvent);
    socket.once("error", settle);
    socket.once("close", onClose);
  });
}

/** Why waiting for the server ended without a reply. */
export type WaitFailure =
  | { kind: "timeout"; timeoutMs: number }
  | { kind: "closed" }
  | { kind: "reset"; code: string }
  | { kind: "socket_error"; code: string; message: string }
  | { kind: "protocol"; error: ReplyProtocolError }
  | { kind: "aborted" };

export class SessionWaitError extends Error {
  override readonly name = "SessionWaitError";
  constructor(readonly failure: WaitFailure) {
    super(failure.kind);
  }
}

/** A reply, and what it answers (reply-moment.ts). */
export interface SessionReply extends SmtpReply {
  moment: ReplyMoment;
}

/** Bytes of the start of what the server sent that are kept, to say what it was. */
const FIRST_BYTES = 64;

interface Waiter {
  resolve: (reply: SessionReply) => void;
  reject: (error: SessionWaitError) => void;
  timer: NodeJS.Timeout;
}

/**
 * One SMTP conversation: owns the socket, the reply reader and the transcript. Every byte read
 * and every line written is recorded here, where it happens, so no phase can forget it. After
 * STARTTLS the socket and the reader are replaced together.
 */
export class SmtpSession {
  private socket: Socket | TLSSocket;
  private reader: ReplyReader;
  private waiter: Waiter | undefined;
  private ended: WaitFailure | undefined;
  private tls = false;
  private longest = 0;
  /** What each reply answers, decided as its lines arrive; one per complete reply in the reader. */
  private readonly moments = new ReplyMoments();
  private completedMoments: ReplyMoment[] = [];
  private received = 0;
  private head = Buffer.alloc(0);

  constructor(
    socket: Socket,
    private readonly transcript: TranscriptRecorder,
    private readonly limits: ReplyReaderLimits,
  ) {
    this.socket = socket;
    this.reader = new ReplyReader(limits);
    this.attach(socket);
  }

  get isTls(): boolean {
    return this.tls;
  }

  get tlsSocket(): TLSSocket | undefined {
    return this.tls ? (this.socket as TLSSocket) : undefined;
  }

  get longestLineOctets(): number {
    return Math.max(this.longest, this.reader.longestLineOctets);
  }

  /** Bytes the server has sent on this connection (inside TLS: the decrypted ones); 0 is silence. */
  get receivedOctets(): number {
    return this.received;
  }

  /** The first bytes the server sent (at most 64), to say what they were when no reply came of them. */
  get firstBytes(): Buffer {
    return this.head;
  }

  /** Waits for the next complete reply. */
  readReply(timeoutMs: number): Promise<SessionReply> {
    const ready = this.nextReply();
    if (ready) return Promise.resolve(ready);
    const stopped = this.reader.error ? ({ kind: "protocol", error: this.reader.error } as const) : this.ended;
    if (stopped) return Promise.reject(new SessionWaitError(stopped));
    if (this.waiter) return Promise.reject(new Error("readReply while a read is pending"));
    return new Promise<SessionReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new SessionWaitError({ kind: "timeout", timeoutMs }));
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  /** Sends one command line (CRLF added) and waits for its reply. */
  command(line: string, timeoutMs: number): Promise<SessionReply> {
    this.send(line);
    return this.readReply(timeoutMs);
  }

  send(line: string): void {
    if (this.ended) return;
    this.transcript.client(line, this.tls);
    this.moments.sent(line);
    this.socket.write(`${line}\r\n`);
  }

  /**
   * Upgrades the connection to TLS on the same socket. RFC 3207 §6: whatever the server sent
   * after its 220 to STARTTLS and before the TLS handshake is discarded, never parsed as a reply;
   * the discarded bytes are returned so they can be reported.
   */
  async startTls(options: ConnectionOptions, timeoutMs: number): Promise<{ socket: TLSSocket; discarded: Buffer }> {
    const plain = this.socket;
    this.longest = this.longestLineOctets;
    const discarded = this.reader.takeBuffered();
    this.completedMoments = [];
    this.moments.dropUnfinished();
    this.detach(plain);
    const secure = tlsConnect({ ...options, socket: plain });
    this.socket = secure;
    this.reader = new ReplyReader(this.limits);
    this.ended = undefined;
    this.attach(secure);
    await waitForSocketEvent(secure, "secureConnect", timeoutMs);
    this.tls = true;
    return { socket: secure, discarded };
  }

  /** Ends the conversation and frees the socket at once. */
  destroy(): void {
    this.failWaiter({ kind: "aborted" });
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.received += chunk.length;
    if (this.head.length < FIRST_BYTES) this.head = Buffer.concat([this.head, chunk.subarray(0, FIRST_BYTES - this.head.length)]);
    for (const line of this.reader.push(chunk)) {
      this.transcript.server(line.text, this.tls);
      const moment = this.moments.received(line.text);
      if (moment) this.completedMoments.push(moment);
    }
    if (this.reader.error) {
      this.failWaiter({ kind: "protocol", error: this.reader.error });
      // Stop reading: the bound is reached, the rest is not worth memory.
      this.socket.destroy();
      return;
    }
    if (this.waiter) {
      const reply = this.nextReply();
      if (reply) {
        const { resolve, timer } = this.waiter;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(reply);
      }
    }
  };

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    const code = error.code ?? "";
    const failure: WaitFailure =
      code === "ECONNRESET" || code === "EPIPE"
        ? { kind: "reset", code }
        : { kind: "socket_error", code, message: error.message };
    this.ended ??= failure;
    this.failWaiter(failure);
  };

  private readonly onClose = (): void => {
    this.ended ??= { kind: "closed" };
    this.failWaiter(this.ended);
  };

  /** The reader's next complete reply with its moment: both queues hold one entry per reply. */
  private nextReply(): SessionReply | undefined {
    const reply = this.reader.next();
    if (!reply) return undefined;
    return { ...reply, moment: this.completedMoments.shift() ?? UNSOLICITED };
  }

  private attach(socket: Socket): void {
    socket.on("data", this.onData);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  private detach(socket: Socket): void {
    socket.off("data", this.onData);
    socket.off("error", this.onError);
    socket.off("close", this.onClose);
  }

  private failWaiter(failure: WaitFailure): void {
    if (!this.waiter) return;
    const { reject, timer } = this.waiter;
    clearTimeout(timer);
    this.waiter = undefined;
    reject(new SessionWaitError(failure));
  }
}
