// A STARTTLS-stripping middlebox for the lab (`npm run demo`, the tests): a TCP relay in front of an SMTP server that removes
// STARTTLS from the server's EHLO replies and answers the client's STARTTLS itself with
// "502 5.5.1 not implemented", as the "SMTP fixup" of some firewalls does. The rest of an EHLO
// reply stays well formed ("250-" on every line but the last, "250 " on the last), whichever line
// STARTTLS was on. Everything else passes through unchanged and in order: a pipelined STARTTLS gets
// its 502 after the replies to the commands sent before it.
//
// Commands are read line by line until DATA or BDAT; from there on (and from the server once it
// answers that command) bytes are relayed as they are: message content is not commands. Lines are
// bounded (maxLineBytes): a longer one cuts the connection.
import net from "node:net";
import { withTimeout } from "../with-timeout.js";

export interface StarttlsStripperOptions {
  /** The SMTP server relayed to. */
  upstream: { host: string; port: number };
  /** Where to listen; default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** The longest line accepted in either direction; default 64 KiB. */
  maxLineBytes?: number;
}

export interface StarttlsStripper {
  host: string;
  port: number;
  /** Client connections accepted so far. */
  connections(): number;
  /** EHLO replies that STARTTLS was removed from. */
  strippedReplies(): number;
  /** STARTTLS commands answered with 502 instead of being relayed. */
  refusedStarttls(): number;
  stop(): Promise<void>;
}

export const STARTTLS_REFUSAL = "502 5.5.1 not implemented";

interface Counters {
  connections: number;
  stripped: number;
  refused: number;
}

/** What the server's next reply answers: a command relayed, or a reply of ours waiting its turn. */
type Pending = { kind: "relayed"; verb: string } | { kind: "local"; reply: string };

export async function startStarttlsStripper(options: StarttlsStripperOptions): Promise<StarttlsStripper> {
  const maxLineBytes = options.maxLineBytes ?? 64 * 1024;
  const counters: Counters = { connections: 0, stripped: 0, refused: 0 };
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const server = net.createServer((client) => {
    counters.connections += 1;
    track(client);
    const upstream = net.connect(options.upstream.port, options.upstream.host);
    track(upstream);
    relay(client, upstream, maxLineBytes, counters);
  });

  const host = options.host ?? "127.0.0.1";
  const port = await listenOn(server, host, options.port ?? 0);

  let stopped: Promise<void> | undefined;
  return {
    host,
    port,
    connections: () => counters.connections,
    strippedReplies: () => counters.stripped,
    refusedStarttls: () => counters.refused,
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await withTimeout(closed, 2_000, "STARTTLS stripper close");
      })();
      return stopped;
    },
  };
}

function listenOn(server: net.Server, host: string, port: number): Promise<number> {
  const listening = new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      if (address === null || typeof address === "string") reject(new Error("listener has no TCP address"));
      else resolve(address.port);
    });
  });
  return withTimeout(listening, 2_000, `listen on ${host}:${port}`);
}

/** The command's verb, upper-case: "EHLO", "STARTTLS", "" for a blank line. */
function verbOf(line: string): string {
  return (line.trim().split(/\s+/)[0] ?? "").toUpperCase();
}

/** Splits off the complete lines (with their "\n") of a buffer; the rest stays in `rest`. */
function takeLines(buffer: string): { lines: string[]; rest: string } {
  const lines: string[] = [];
  let start = 0;
  for (let end = buffer.indexOf("\n"); end !== -1; end = buffer.indexOf("\n", start)) {
    lines.push(buffer.slice(start, end + 1));
    start = end + 1;
  }
  return { lines, rest: buffer.slice(start) };
}

/** The reply with every STARTTLS line but the first (the greeting) removed, re-terminated. */
function stripStarttls(code: string, lines: readonly string[]): string | undefined {
  const texts = lines.map((line) => line.replace(/\r?\n$/, "").slice(4));
  const kept = texts.filter((text, i) => i === 0 || text.trim().toUpperCase() !== "STARTTLS");
  if (kept.length === texts.length) return undefined;
  return kept.map((text, i) => `${code}${i < kept.length - 1 ? "-" : " "}${text}\r\n`).join("");
}

function relay(client: net.Socket, upstream: net.Socket, maxLineBytes: number, counters: Counters): void {
  // latin1: one byte, one character, so anything a peer sends goes through unchanged.
  client.setEncoding("latin1");
  upstream.setEncoding("latin1");
  const pending: Pending[] = [{ kind: "relayed", verb: "<banner>" }];
  let fromClient = "";
  let fromServer = "";
  let reply: string[] = [];
  let clientRaw = false;
  let serverRaw = false;

  const cut = (): void => {
    client.destroy();
    upstream.destroy();
  };
  const toClient = (text: string): void => {
    if (!client.destroyed) client.write(text, "latin1");
  };
  const flushLocal = (): void => {
    while (pending[0]?.kind === "local") toClient((pending.shift() as { reply: string }).reply);
  };

  client.on("data", (chunk: string) => {
    if (clientRaw) {
      upstream.write(chunk, "latin1");
      return;
    }
    const { lines, rest } = takeLines(fromClient + chunk);
    fromClient = rest;
    if (fromClient.length > maxLineBytes) return cut();
    for (const [i, line] of lines.entries()) {
      const verb = verbOf(line);
      if (verb === "STARTTLS") {
        counters.refused += 1;
        pending.push({ kind: "local", reply: `${STARTTLS_REFUSAL}\r\n` });
        flushLocal(); // at once when nothing waits for the server, else in its turn
        continue;
      }
      pending.push({ kind: "relayed", verb });
      upstream.write(line, "latin1");
      if (verb === "DATA" || verb === "BDAT") {
        clientRaw = true;
        const after = lines.slice(i + 1).join("") + fromClient;
        fromClient = "";
        if (after) upstream.write(after, "latin1");
        return;
      }
    }
  });

  upstream.on("data", (chunk: string) => {
    if (serverRaw) {
      toClient(chunk);
      return;
    }
    const { lines, rest } = takeLines(fromServer + chunk);
    fromServer = rest;
    if (fromServer.length > maxLineBytes) return cut();
    for (const [i, line] of lines.entries()) {
      reply.push(line);
      // "ddd-" goes on; "ddd ", "ddd" or anything else ends the reply.
      if (/^\d{3}-/.test(line)) continue;
      const complete = reply;
      reply = [];
      const code = (complete[0] ?? "").slice(0, 3);
      const answered = pending[0]?.kind === "relayed" ? (pending.shift() as { verb: string }) : undefined;
      const stripped = answered?.verb === "EHLO" && /^2\d\d$/.test(code) ? stripStarttls(code, complete) : undefined;
      if (stripped !== undefined) counters.stripped += 1;
      toClient(stripped ?? complete.join(""));
      flushLocal();
      if (answered?.verb === "DATA" || answered?.verb === "BDAT") {
        serverRaw = true;
        const after = lines.slice(i + 1).join("") + fromServer;
        fromServer = "";
        if (after) toClient(after);
        return;
      }
    }
  });

  client.on("end", () => upstream.end());
  upstream.on("end", () => client.end());
  client.on("error", cut);
  upstream.on("error", cut);
  client.on("close", () => upstream.destroy());
  upstream.on("close", () => {
    // Whatever the server sent last, unfinished, still reaches the client.
    const unfinished = reply.join("") + fromServer;
    if (unfinished) toClient(unfinished);
    client.end();
  });
}
