// A tiny authoritative DNS server on 127.0.0.1 (UDP, free port) answering from a zone given as
// data, built on dns2's packet codec. Point a resolver at it with
// `new dns.promises.Resolver()` + `setServers([server])`. Unknown names get NXDOMAIN, known
// names without the asked type get an empty NOERROR answer (NODATA).
import type { AddressInfo } from "node:net";
import dns2 from "dns2";
import { withTimeout } from "./wait.js";

const { Packet } = dns2;

export interface MxRecord {
  exchange: string;
  /** Also accepted as `priority`, the name Node's resolveMx uses. */
  preference?: number;
  priority?: number;
}

export interface ZoneEntry {
  A?: string[];
  AAAA?: string[];
  MX?: MxRecord[];
  CNAME?: string;
  /**
   * Each record as one string (split into 255-octet character-strings when longer, as a zone file
   * would) or as its character-strings given one by one.
   */
  TXT?: (string | string[])[];
  PTR?: string[];
  /** Instead of answering: SERVFAIL, REFUSED, or no reply at all ("drop": the resolver times out). */
  behavior?: "servfail" | "refused" | "drop";
}

export type Zone = Record<string, ZoneEntry>;

export interface DnsQuery {
  name: string;
  /** "A", "AAAA", "MX", ... or the numeric type. */
  type: string;
}

export interface DnsServer {
  /** "127.0.0.1:PORT", ready for Resolver.setServers(). */
  server: string;
  port: number;
  /** Questions received, in order. */
  queries(): DnsQuery[];
  stop(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const typeNames = new Map<number, string>(Object.entries(Packet.TYPE).map(([name, value]) => [value as number, name]));

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

export async function startDnsServer(zone: Zone, opts: { ttl?: number; delayMs?: number } = {}): Promise<DnsServer> {
  const ttl = opts.ttl ?? 60;
  // Every answer this much later: a resolver far away (the domain-check bench).
  const delayMs = opts.delayMs ?? 0;
  const entries = new Map(Object.entries(zone).map(([name, entry]) => [normalize(name), entry]));
  const queries: DnsQuery[] = [];

  const handle = (request: dns2.Packet, reply: (response: dns2.Packet) => Promise<unknown>): void => {
    const send = (response: dns2.Packet): Promise<unknown> =>
      delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, delayMs)).then(() => reply(response)) : reply(response);
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    const [question] = request.questions;
    if (!question) {
      response.header.rcode = RCODE.REFUSED;
      void send(response).catch(() => undefined);
      return;
    }
    const name = normalize(question.name);
    queries.push({ name, type: typeNames.get(question.type) ?? String(question.type) });
    const entry = entries.get(name);
    if (entry?.behavior === "drop") return;
    if (!entry) {
      response.header.rcode = RCODE.NXDOMAIN;
    } else if (entry.behavior === "servfail") {
      response.header.rcode = RCODE.SERVFAIL;
    } else if (entry.behavior === "refused") {
      response.header.rcode = RCODE.REFUSED;
    } else {
      response.answers = answersFor(question, name, entries, ttl);
    }
    void send(response).catch(() => undefined);
  };

  // UDP on a free port, and TCP on the same port, for answers too large for a datagram (the
  // resolver retries over TCP when the UDP answer is truncated, RFC 7766). The TCP port may be
  // taken by another process while the UDP one is free: then both are given up and tried again.
  const bind = async (): Promise<{ server: ReturnType<typeof dns2.createUDPServer>; tcp: ReturnType<typeof dns2.createTCPServer>; port: number }> => {
    const server = dns2.createUDPServer();
    server.on("requestError", () => undefined); // a malformed datagram must not crash a test
    server.on("error", () => undefined);
    server.on("request", handle);
    await withTimeout(server.listen(0, "127.0.0.1"), 2_000, "DNS server bind");
    const { port } = server.address() as AddressInfo;
    const tcp = dns2.createTCPServer();
    tcp.on("request", handle);
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          tcp.once("error", reject);
          tcp.listen(port, "127.0.0.1", () => resolve());
        }),
        2_000,
        "DNS server TCP bind",
      );
    } catch (error) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw error;
    }
    tcp.on("error", () => undefined);
    return { server, tcp, port };
  };
  let bound: Awaited<ReturnType<typeof bind>> | undefined;
  for (let attempt = 1; !bound; attempt += 1) {
    try {
      bound = await bind();
    } catch (error) {
      if (attempt >= 5 || (error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    }
  }
  const { server, tcp, port } = bound;

  let stopped: Promise<void> | undefined;
  return {
    server: `127.0.0.1:${port}`,
    port,
    queries: () => [...queries],
    stop() {
      stopped ??= withTimeout(
        Promise.all([
          new Promise<void>((resolve) => server.close(() => resolve())),
          new Promise<void>((resolve) => tcp.close(() => resolve())),
        ]).then(() => undefined),
        2_000,
        "DNS server close",
      );
      return stopped;
    },
  };
}

function answersFor(
  question: dns2.Packet.Question,
  name: string,
  entries: Map<string, ZoneEntry>,
  ttl: number,
): dns2.Packet.Resource[] {
  const answers: dns2.Packet.Resource[] = [];
  let owner = name;
  // Follows CNAMEs inside the zone, as a recursive resolver would (bounded against loops).
  for (let hops = 0; hops < 8; hops += 1) {
    const entry = entries.get(owner);
    if (!entry || entry.behavior !== undefined) break;
    const make = (record: Partial<dns2.Packet.Resource>): dns2.Packet.Resource =>
      Packet.createResourceFromQuestion(question, { name: owner, ttl, ...record });
    // A CNAME owner has no other data (RFC 1034 section 3.6.2).
    if (entry.CNAME !== undefined && question.type !== Packet.TYPE.CNAME) {
      answers.push(make({ type: Packet.TYPE.CNAME, domain: entry.CNAME }));
      owner = normalize(entry.CNAME);
      continue;
    }
    switch (question.type) {
      case Packet.TYPE.A:
        answers.push(...(entry.A ?? []).map((address) => make({ address })));
        break;
      case Packet.TYPE.AAAA:
        answers.push(...(entry.AAAA ?? []).map((address) => make({ address })));
        break;
      case Packet.TYPE.MX:
        answers.push(
          ...(entry.MX ?? []).map((mx) => make({ exchange: mx.exchange, priority: mx.preference ?? mx.priority ?? 10 })),
        );
        break;
      case Packet.TYPE.TXT:
        // dns2 writes Buffers as they are (its type says strings).
        answers.push(...(entry.TXT ?? []).map((data) => make({ data: characterStrings(data) as unknown as string[] })));
        break;
      case Packet.TYPE.PTR:
        answers.push(...(entry.PTR ?? []).map((domain) => make({ domain })));
        break;
      case Packet.TYPE.CNAME:
        if (entry.CNAME !== undefined) answers.push(make({ domain: entry.CNAME }));
        break;
    }
    break;
  }
  return answers;
}

/** A TXT record's character-strings: each at most 255 octets (RFC 1035 §3.3). */
function characterStrings(data: string | string[]): Buffer[] {
  if (Array.isArray(data)) return data.map((part) => Buffer.from(part, "utf8"));
  const bytes = Buffer.from(data, "utf8");
  const parts: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += 255) parts.push(bytes.subarray(offset, offset + 255));
  return parts.length > 0 ? parts : [Buffer.alloc(0)];
}
