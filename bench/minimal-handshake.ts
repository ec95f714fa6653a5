// The baseline the engine is measured against: the least code that performs the same SMTP
// handshake (banner, EHLO, STARTTLS, TLS, EHLO, QUIT) with raw net/tls. It parses nothing beyond
// finding the final line of each reply ("ddd " + CRLF) and checking it starts with 2, and it
// records nothing. Its TLS settings are the engine's (agents/smtp/handshake.ts, startTls).
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";

export interface MinimalTarget {
  /** The name the SNI comes from (none for an IP literal, as in the engine). */
  servername: string | undefined;
  address: string;
  port: number;
}

export interface MinimalOptions {
  ehloName: string;
  /** TCP_NODELAY on the plain socket, as the engine does; false shows what Node's default does. */
  noDelay: boolean;
  /** The whole handshake; a bench must never hang. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called once the TCP connection is up (the held-probe test counts them). */
  onConnect?: () => void;
  /** Diagnostics only: performance.now() at each reply and at secureConnect, in order. */
  marks?: number[];
  /** Diagnostics only: TLS settings over the engine's (e.g. a TLS 1.2 cap). */
  tlsOverrides?: ConnectionOptions;
}

/** Thrown when a step fails: the baseline has no result type, a failure is a failure. */
export class MinimalHandshakeError extends Error {
  override readonly name = "MinimalHandshakeError";
  constructor(
    message: string,
    readonly step: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Resolves when the server said 221 to QUIT; rejects on any error, timeout or abort. */
export function minimalHandshake(target: MinimalTarget, options: MinimalOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let socket: Socket = netConnect({ host: target.address, port: target.port });
    if (options.noDelay) socket.setNoDelay(true);
    let buffered = "";
    let step = "banner";
    let done = false;

    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const fail = (message: string, cause?: unknown): void => finish(new MinimalHandshakeError(message, step, { cause }));
    const onAbort = (): void => fail("aborted");
    const timer = setTimeout(() => fail(`timed out after ${options.timeoutMs} ms`), options.timeoutMs);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const send = (line: string, next: string): void => {
      step = next;
      socket.write(`${line}\r\n`);
    };

    // The state machine: called once per complete reply, with the reply's final line.
    const onReply = (last: string): void => {
      options.marks?.push(performance.now());
      if (last.charCodeAt(0) !== 0x32 /* "2" */) return fail(`${step} answered "${last}"`);
      switch (step) {
        case "banner":
          return send(`EHLO ${options.ehloName}`, "ehlo");
        case "ehlo":
          return send("STARTTLS", "starttls");
        case "starttls":
          return upgrade();
        case "ehlo_tls":
          return send("QUIT", "quit");
        case "quit":
          return finish();
      }
    };

    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString("latin1");
      // A reply is complete when it ends in CRLF and its last line is "ddd text" (RFC 5321 §4.2.1).
      if (!buffered.endsWith("\r\n")) return;
      const previous = buffered.lastIndexOf("\r\n", buffered.length - 3);
      const start = previous < 0 ? 0 : previous + 2;
      if (buffered.charCodeAt(start + 3) !== 0x20 && buffered.length - start !== 5) return;
      const last = buffered.slice(start, -2);
      buffered = "";
      onReply(last);
    };
    const onError = (error: Error): void => fail(`socket error during ${step}`, error);
    const onClose = (): void => fail(`closed by the server during ${step}`);

    const upgrade = (): void => {
      step = "tls";
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("error", onError);
      const secure = tlsConnect({
        socket,
        servername: target.servername,
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
        minVersion: "TLSv1",
        ...options.tlsOverrides,
      });
      socket = secure;
      secure.on("error", onError);
      secure.on("close", onClose);
      secure.on("data", onData);
      secure.once("secureConnect", () => {
        options.marks?.push(performance.now());
        send(`EHLO ${options.ehloName}`, "ehlo_tls");
      });
    };

    if (options.onConnect) socket.once("connect", options.onConnect);
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}
