// A raw server for the TLS scan's tests: speaks just enough SMTP to reach STARTTLS's 220 (or
// none, for implicit TLS), reads one ClientHello record, and answers it as the test says — a
// hand-written ServerHello, an alert, garbage, a cut answer, a close, silence — so that what no
// TLS library would send can be sent. Every connection runs on its own; the hello is bounded.
import net from "node:net";
import { parseClientHello, type ParsedClientHello } from "./tls-records.js";
import { listenLoopback } from "./wait.js";

/** What to do with a ClientHello: bytes to write (then close), or close, reset, keep silent. */
export type HelloReply = Buffer | { then: "close" | "reset" | "silence"; write?: Buffer };

export interface TlsHelloServerOptions {
  /** The answer to each ClientHello; `raw` is the record as received. */
  answer: (hello: ParsedClientHello, raw: Buffer) => HelloReply;
  /** TLS from the first byte: no SMTP. */
  implicit?: boolean;
  /** The reply to STARTTLS; default "220 2.0.0 Ready to start TLS". */
  starttlsReply?: string;
  /** The reply to MAIL; default "250 2.1.0 Ok". */
  mailReply?: string;
}

export interface TlsHelloServer {
  host: "127.0.0.1";
  port: number;
  connections(): number;
  /** The most connections open at once. */
  peakConnections(): number;
  /** Every ClientHello read, in arrival order. */
  hellos(): ParsedClientHello[];
  /** Every SMTP command line read (all connections). */
  commands(): string[];
  stop(): Promise<void>;
}

const MAX_HELLO = 16_384 + 5;

export async function startTlsHelloServer(options: TlsHelloServerOptions): Promise<TlsHelloServer> {
  let connections = 0;
  let open = 0;
  let peak = 0;
  const hellos: ParsedClientHello[] = [];
  const commands: string[] = [];
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    connections += 1;
    open += 1;
    peak = Math.max(peak, open);
    sockets.add(socket);
    socket.on("close", () => {
      open -= 1;
      sockets.delete(socket);
    });
    socket.on("error", () => undefined);
    let buffer = Buffer.alloc(0);
    let inTls = options.implicit ?? false;
    let done = false;
    const answerHello = (): void => {
      if (buffer.length < 5) return;
      const length = buffer.readUInt16BE(3);
      if (buffer.length < 5 + length || 5 + length > MAX_HELLO) return;
      const raw = buffer.subarray(0, 5 + length);
      done = true;
      let hello: ParsedClientHello;
      try {
        hello = parseClientHello(raw);
      } catch {
        socket.destroy();
        return;
      }
      hellos.push(hello);
      const reply = options.answer(hello, raw);
      if (Buffer.isBuffer(reply)) {
        socket.end(reply);
        return;
      }
      if (reply.write) socket.write(reply.write);
      if (reply.then === "close") socket.end();
      else if (reply.then === "reset") socket.resetAndDestroy();
    };
    const readLines = (): void => {
      for (;;) {
        const lf = buffer.indexOf(10);
        if (lf === -1) return;
        const line = buffer.subarray(0, lf).toString("latin1").replace(/\r$/, "");
        buffer = buffer.subarray(lf + 1);
        commands.push(line);
        const verb = line.split(" ")[0]!.toUpperCase();
        if (verb === "EHLO") socket.write("250-hello.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
        else if (verb === "HELO") socket.write("250 hello.test\r\n");
        else if (verb === "STARTTLS") {
          const reply = options.starttlsReply ?? "220 2.0.0 Ready to start TLS";
          socket.write(`${reply}\r\n`);
          if (reply.startsWith("220")) {
            inTls = true;
            return answerHello();
          }
        } else if (verb === "MAIL") socket.write(`${options.mailReply ?? "250 2.1.0 Ok"}\r\n`);
        else if (verb === "RSET") socket.write("250 2.0.0 Ok\r\n");
        else if (verb === "QUIT") {
          socket.end("221 2.0.0 Bye\r\n");
          return;
        } else socket.write("502 5.5.2 Error: command not recognized\r\n");
      }
    };
    socket.on("data", (chunk: Buffer) => {
      if (done) return;
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length > MAX_HELLO + 1024) return void socket.destroy();
      if (inTls) answerHello();
      else readLines();
    });
    if (!options.implicit) socket.write("220 hello.test ESMTP\r\n");
  });
  const port = await listenLoopback(server);
  return {
    host: "127.0.0.1",
    port,
    connections: () => connections,
    peakConnections: () => peak,
    hellos: () => hellos,
    commands: () => commands,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
