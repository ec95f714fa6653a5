// Raw DNS queries that read what Node's resolver hides: the AD flag (RFC 4035 §3.2.3, RFC 6840
// §5.7) and the rcode of a validating resolver that refused a bogus answer (SERVFAIL). DANE
// (RFC 7672 §2.1) believes TLSA records only from a validating resolver that says they are
// authenticated, and Node's dns module neither sets DO nor shows AD. The wire format is
// dns-packet's; the transport is here: UDP with EDNS0 (DO set, AD asked for), one timeout per
// server, TCP when the answer is truncated, replies matched by id and question, sizes bounded.
import { createSocket } from "node:dgram";
import { getServers } from "node:dns";
import { randomInt } from "node:crypto";
import { isIP, Socket } from "node:net";
import dnsPacket, { type Answer, type Packet } from "dns-packet";
import { formatHostPort } from "../../lib/host-port.js";

export interface SecureQueryOptions {
  /** "ip", "ip:port" or "[ipv6]:port"; empty: the system's servers. Tried in order. */
  servers?: readonly string[];
  /** Per server and transport. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** The largest TCP answer taken (UDP is bounded by the EDNS size asked for). */
  maxBytes?: number;
}

export interface SecureAnswer {
  /** "NOERROR", "NXDOMAIN", "SERVFAIL", ... */
  rcode: string;
  /** The AD flag: the resolver validated the answer with DNSSEC (it means nothing from a resolver that does not). */
  authenticated: boolean;
  answers: Answer[];
  /** The authority section: an SOA there gives a negative answer's TTL (RFC 2308 §5). */
  authorities: Answer[];
  /** The server that answered, "ip:port". */
  server: string;
  transport: "udp" | "tcp";
  ms: number;
}

export type SecureQueryErrorCode = "TIMEOUT" | "NETWORK" | "MALFORMED" | "CANCELLED" | "NO_SERVER";

export class SecureQueryError extends Error {
  override readonly name = "SecureQueryError";
  constructor(
    readonly code: SecureQueryErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** EDNS0 payload asked for (the DNS flag day 2020 value: no fragmentation). */
const UDP_PAYLOAD = 1232;
const DEFAULT_MAX_BYTES = 64 * 1024;

export async function secureQuery(name: string, type: string, options: SecureQueryOptions): Promise<SecureAnswer> {
  const servers = (options.servers && options.servers.length > 0 ? options.servers : getServers()).map(parseServer);
  if (servers.length === 0) throw new SecureQueryError("NO_SERVER", "no DNS server to ask");
  let last: SecureQueryError | undefined;
  for (const server of servers) {
    if (options.signal?.aborted) throw new SecureQueryError("CANCELLED", "cancelled");
    const start = performance.now();
    try {
      let transport: "udp" | "tcp" = "udp";
      let reply = await exchange(server, name, type, "udp", options);
      // RFC 7766 §5: a truncated answer is asked again over TCP.
      if (reply.flag_tc) {
        transport = "tcp";
        reply = await exchange(server, name, type, "tcp", options);
      }
      return {
        rcode: reply.rcode ?? "NOERROR",
        authenticated: reply.flag_ad === true,
        answers: reply.answers ?? [],
        authorities: reply.authorities ?? [],
        server: formatHostPort(server.host, server.port),
        transport,
        ms: performance.now() - start,
      };
    } catch (error) {
      if (!(error instanceof SecureQueryError) || error.code === "CANCELLED") throw error;
      last = error;
    }
  }
  throw last ?? new SecureQueryError("NO_SERVER", "no DNS server answered");
}

interface Server {
  host: string;
  port: number;
}

function parseServer(text: string): Server {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1] ?? "", port: Number(bracketed[2] ?? 53) };
  if (isIP(text) === 6) return { host: text, port: 53 };
  const [host = "", port] = text.split(":");
  return { host, port: port === undefined ? 53 : Number(port) };
}

type Reply = Packet & { flag_tc?: boolean; flag_ad?: boolean; rcode?: string };

function query(name: string, type: string): { id: number; bytes: Buffer } {
  const id = randomInt(0, 0x10000);
  const bytes = dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ type: type as "TLSA", name, class: "IN" }],
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: UDP_PAYLOAD, flags: dnsPacket.DNSSEC_OK } as unknown as Answer],
  });
  return { id, bytes };
}

/** Whether a reply answers our question: the id, and the question echoed (RFC 5452 §9.1). */
function answersOurs(reply: Reply, id: number, name: string, type: string): boolean {
  const q = reply.questions?.[0];
  return reply.id === id && reply.type === "response" && q !== undefined && q.name.toLowerCase() === name.toLowerCase().replace(/\.$/, "") && q.type === type;
}

function exchange(server: Server, name: string, type: string, transport: "udp" | "tcp", options: SecureQueryOptions): Promise<Reply> {
  const { id, bytes } = query(name, type);
  const where = formatHostPort(server.host, server.port);
  return new Promise<Reply>((resolve, reject) => {
    let settled = false;
    const cleanups: (() => void)[] = [];
    const finish = (error: SecureQueryError | undefined, reply?: Reply): void => {
      if (settled) return;
      settled = true;
      for (const cleanup of cleanups) cleanup();
      if (error) reject(error);
      else resolve(reply as Reply);
    };
    const timer = setTimeout(() => finish(new SecureQueryError("TIMEOUT", `no answer from ${where} over ${transport.toUpperCase()} within ${options.timeoutMs} ms`)), options.timeoutMs);
    cleanups.push(() => clearTimeout(timer));
    const onAbort = (): void => finish(new SecureQueryError("CANCELLED", "cancelled"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    cleanups.push(() => options.signal?.removeEventListener("abort", onAbort));
    const take = (data: Buffer): boolean => {
      let reply: Reply;
      try {
        reply = dnsPacket.decode(data) as Reply;
      } catch (error) {
        finish(new SecureQueryError("MALFORMED", `a malformed answer from ${where}: ${error instanceof Error ? error.message : String(error)}`));
        return true;
      }
      if (!answersOurs(reply, id, name, type)) return false; // not ours: a late or forged datagram
      finish(undefined, reply);
      return true;
    };

    if (transport === "udp") {
      const socket = createSocket(isIP(server.host) === 6 ? "udp6" : "udp4");
      cleanups.push(() => socket.close());
      socket.on("error", (error) => finish(new SecureQueryError("NETWORK", `${where}: ${error.message}`)));
      socket.on("message", (data, remote) => {
        if (remote.port !== server.port) return;
        take(data);
      });
      socket.send(bytes, server.port, server.host);
      return;
    }

    const socket = new Socket();
    cleanups.push(() => socket.destroy());
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    let buffered = Buffer.alloc(0);
    socket.on("error", (error) => finish(new SecureQueryError("NETWORK", `${where}: ${error.message}`)));
    socket.on("close", () => finish(new SecureQueryError("NETWORK", `${where} closed the TCP connection before answering`)));
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // RFC 1035 §4.2.2: each message is preceded by its two-byte length.
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (length > maxBytes) {
          finish(new SecureQueryError("MALFORMED", `${where} sent a ${length}-byte answer, over the ${maxBytes} bytes taken`));
          return;
        }
        if (buffered.length < 2 + length) return;
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        if (take(message)) return;
      }
    });
    socket.connect(server.port, server.host, () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(bytes.length);
      socket.write(Buffer.concat([length, bytes]));
    });
  });
}
