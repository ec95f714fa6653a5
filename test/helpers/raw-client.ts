// A deliberately dumb SMTP client for checking what test servers put on the wire. It is not the
// product's reply reader: it collects bytes, splits CRLF lines and groups "ddd-"/"ddd " replies.
import net from "node:net";
import tls from "node:tls";
import { withTimeout } from "./wait.js";

export interface RawReply {
  code: number;
  /** Text after "ddd-" / "ddd " of each line. */
  lines: string[];
  /** The reply's lines as received, CRLF-joined. */
  raw: string;
}

export type CloseKind = "end" | "reset" | "error";

export interface RawClient {
  /** The current socket (the TLS one after startTls). */
  socket(): net.Socket | tls.TLSSocket;
  send(line: string): void;
  readReply(timeoutMs?: number): Promise<RawReply>;
  command(line: string, timeoutMs?: number): Promise<RawReply>;
  /** Everything received so far, decoded latin1, before and after TLS. */
  received(): string;
  /** Bytes received and not yet consumed as reply lines. */
  pending(): string;
  /** Upgrades the socket; whatever was buffered in plaintext stays readable through pending(). */
  startTls(options?: tls.ConnectionOptions, timeoutMs?: number): Promise<tls.TLSSocket>;
  /** Resolves how the peer closed the connection. */
  closed(timeoutMs?: number): Promise<CloseKind>;
  close(): void;
  /** close(), for stopAfterEach(). */
  stop(): Promise<void>;
}

export interface RawConnectOptions {
  host: string;
  port: number;
  /** Implicit TLS from the first byte. */
  tls?: tls.ConnectionOptions;
  timeoutMs?: number;
}

export async function connectRaw(opts: RawConnectOptions): Promise<RawClient> {
  const timeoutMs = opts.timeoutMs ?? 1_000;
  let current: net.Socket | tls.TLSSocket;
  let buffer = "";
  let all = "";
  let waiter: (() => void) | undefined;
  let closeKind: CloseKind | undefined;
  let closeWaiters: ((kind: CloseKind) => void)[] = [];

  const onData = (chunk: Buffer): void => {
    const text = chunk.toString("latin1");
    buffer += text;
    all += text;
    waiter?.();
  };
  const markClosed = (kind: CloseKind): void => {
    closeKind ??= kind;
    for (const resolve of closeWaiters) resolve(closeKind);
    closeWaiters = [];
    waiter?.();
  };
  const attach = (socket: net.Socket): void => {
    socket.on("data", onData);
    socket.on("error", (err: NodeJS.ErrnoException) => markClosed(err.code === "ECONNRESET" ? "reset" : "error"));
    socket.on("end", () => markClosed("end"));
    socket.on("close", () => markClosed("end"));
  };

  const connected = new Promise<net.Socket | tls.TLSSocket>((resolve, reject) => {
    const socket = opts.tls
      ? tls.connect({ host: opts.host, port: opts.port, ...opts.tls }, () => resolve(socket))
      : net.connect({ host: opts.host, port: opts.port }, () => resolve(socket));
    socket.once("error", reject);
  });
  current = await withTimeout(connected, timeoutMs, `connect to ${opts.host}:${opts.port}`);
  attach(current);

  const takeReply = (): RawReply | undefined => {
    const lines: string[] = [];
    let offset = 0;
    for (;;) {
      const end = buffer.indexOf("\r\n", offset);
      if (end < 0) return undefined;
      const line = buffer.slice(offset, end);
      lines.push(line);
      offset = end + 2;
      if (!/^\d{3}-/.test(line)) {
        buffer = buffer.slice(offset);
        const code = Number.parseInt(line.slice(0, 3), 10);
        return { code, lines: lines.map((l) => l.slice(4)), raw: lines.join("\r\n") };
      }
    }
  };

  const readReply = (ms = timeoutMs): Promise<RawReply> => {
    const reading = new Promise<RawReply>((resolve, reject) => {
      const attempt = (): void => {
        const reply = takeReply();
        if (reply) {
          waiter = undefined;
          resolve(reply);
        } else if (closeKind) {
          waiter = undefined;
          reject(new Error(`connection closed (${closeKind}) before a full reply; pending ${JSON.stringify(buffer)}`));
        }
      };
      waiter = attempt;
      attempt();
    });
    return withTimeout(reading, ms, "read SMTP reply").finally(() => {
      waiter = undefined;
    });
  };

  const send = (line: string): void => {
    current.write(`${line}\r\n`);
  };

  return {
    socket: () => current,
    send,
    readReply,
    async command(line, ms) {
      send(line);
      return readReply(ms);
    },
    received: () => all,
    pending: () => buffer,
    async startTls(options = {}, ms = timeoutMs) {
      const raw = current;
      raw.off("data", onData);
      const upgraded = new Promise<tls.TLSSocket>((resolve, reject) => {
        const secure = tls.connect({ socket: raw, ...options }, () => resolve(secure));
        secure.once("error", reject);
      });
      const secure = await withTimeout(upgraded, ms, "TLS handshake");
      current = secure;
      attach(secure);
      return secure;
    },
    closed(ms = timeoutMs) {
      if (closeKind) return Promise.resolve(closeKind);
      return withTimeout(
        new Promise<CloseKind>((resolve) => closeWaiters.push(resolve)),
        ms,
        "peer close",
      );
    },
    close() {
      current.destroy();
    },
    async stop() {
      current.destroy();
    },
  };
}
