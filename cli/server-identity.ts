// What listens at an address the CLI could not talk gRPC to: asked only after a call failed before
// any answer, so that the message can say "that is an SMTP server" or "it speaks TLS" rather than
// grpc-js's "Protocol error" or "Failed to connect". Bounded: one connection, a few hundred bytes,
// about 2 s at most; a TLS handshake that checks nothing, to learn only that TLS is spoken.
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export type ServerIdentity =
  /** Nothing to connect to (refused, no route, no such name): the call's own error says so. */
  | { kind: "unreachable" }
  /** Spoke first with an SMTP reply: an SMTP server. */
  | { kind: "smtp"; greeting: string }
  /** Answered the HTTP/2 preface with an HTTP/1.x status line. */
  | { kind: "http1"; statusLine: string }
  /** Answered the HTTP/2 preface with HTTP/2 frames, in plaintext: a gRPC server without TLS. */
  | { kind: "http2" }
  /** Speaks TLS. */
  | { kind: "tls" }
  /** Sent something else. */
  | { kind: "other"; firstLine: string }
  /** Connected, and said nothing to anything we sent. */
  | { kind: "silent" };

export interface IdentifyOptions {
  /** How long to wait for a server that speaks first (SMTP does), in ms. */
  greetingMs?: number;
  /** How long to wait for each answer, in ms. */
  answerMs?: number;
}

/** The HTTP/2 client preface (RFC 9113 §3.4) and an empty SETTINGS frame. */
const HTTP2_PREFACE = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);
/** Enough of an answer to tell what it is. */
const MAX_BYTES = 512;

export async function identifyServer(host: string, port: number, options: IdentifyOptions = {}): Promise<ServerIdentity> {
  const greetingMs = options.greetingMs ?? 500;
  const answerMs = options.answerMs ?? 700;
  const plain = await talkPlaintext(host, port, greetingMs, answerMs);
  if (plain.kind !== "silent") return plain;
  return (await speaksTls(host, port, answerMs)) ? { kind: "tls" } : { kind: "silent" };
}

/**
 * What the first bytes of a server say about it, whether it spoke first (SMTP does) or answered
 * our HTTP/2 preface. Pure.
 */
export function classifyFirstBytes(bytes: Buffer): ServerIdentity {
  if (bytes.length === 0) return { kind: "silent" };
  // A TLS record: handshake (22) or alert (21), version 3.x (RFC 8446 §5.1).
  if ((bytes[0] === 0x16 || bytes[0] === 0x15) && bytes[1] === 0x03) return { kind: "tls" };
  // An HTTP/2 frame header whose type is SETTINGS (4), the first frame a server sends (RFC 9113 §3.4).
  if (bytes.length >= 9 && bytes[3] === 0x04 && bytes[0] === 0 && (bytes[4] === 0 || bytes[4] === 1)) return { kind: "http2" };
  const firstLine = printable(bytes.toString("latin1").split(/\r?\n/)[0] ?? "");
  if (/^\d{3}(?:[ -]|$)/.test(firstLine)) return { kind: "smtp", greeting: firstLine };
  if (/^HTTP\/1\.[01] \d{3}/.test(firstLine)) return { kind: "http1", statusLine: firstLine };
  return { kind: "other", firstLine };
}

/** Connects; waits for a server that speaks first; else sends the HTTP/2 preface and reads the answer. */
function talkPlaintext(host: string, port: number, greetingMs: number, answerMs: number): Promise<ServerIdentity> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    let received = Buffer.alloc(0);
    let timer: NodeJS.Timeout | undefined;
    let connected = false;
    const finish = (identity: ServerIdentity): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.destroy();
      resolve(identity);
    };
    const arm = (ms: number, then: () => void): void => {
      clearTimeout(timer);
      timer = setTimeout(then, ms);
    };
    arm(greetingMs + answerMs, () => finish({ kind: connected ? "silent" : "unreachable" }));
    socket.on("connect", () => {
      connected = true;
      arm(greetingMs, () => {
        socket.write(HTTP2_PREFACE);
        arm(answerMs, () => finish(classifyFirstBytes(received)));
      });
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]).subarray(0, MAX_BYTES);
      // A line, a TLS record or a frame header is enough; wait a moment for the rest of a line.
      if (received.includes(0x0a) || received.length >= 9) finish(classifyFirstBytes(received));
    });
    socket.on("error", () => finish(connected ? classifyFirstBytes(received) : { kind: "unreachable" }));
    socket.on("close", () => finish(classifyFirstBytes(received)));
  });
}

/** Whether a TLS handshake completes (nothing is verified: only whether TLS is spoken). */
function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ["h2"], ...(isIP(host) === 0 ? { servername: host } : {}) }, () =>
      finish(true),
    );
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(yes: boolean): void {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.destroy();
      resolve(yes);
    }
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}

/** A line from the server, safe to quote: controls escaped, cut at 80. */
function printable(text: string): string {
  const escaped = text.replace(/[\x00-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return escaped.length > 80 ? `${escaped.slice(0, 80)}…` : escaped;
}
