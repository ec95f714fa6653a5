// The agent's resolver against a DNS server the test starts: answers of every type cached within their TTL,
// questions on their way joined, empty answers cached, failures not, the session's bound.
import { createSocket } from "node:dgram";
import type { AddressInfo } from "node:net";
import dnsPacket from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentResolver } from "../../../../agents/dns/agent-resolver.js";
import { DnsLookupError, LOOKUP_LIMIT } from "../../../../agents/dns/dns-errors.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";

let dns: DnsServer;
beforeAll(async () => {
  dns = await startDnsServer(
    {
      "a.test": { A: ["198.18.0.1"], TXT: ["hello"], MX: [{ exchange: "mx.a.test", preference: 5 }] },
      "1.0.18.198.in-addr.arpa": { PTR: ["a.test"] },
      "many.test": { A: ["198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4", "198.18.1.5"] },
      "fail.test": { behavior: "servfail" },
      "slow.test": { behavior: "drop" },
    },
    { ttl: 30 },
  );
});
afterAll(async () => {
  await dns?.stop();
});

const asked = (name: string, type: string): number => dns.queries().filter((q) => q.name === name && q.type === type).length;

describe("AgentResolver", () => {
  it("answers each type, and a second question from the cache", async () => {
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500 });
    const session = resolver.session();
    expect(await session.resolve("A.test.", "A")).toEqual(["198.18.0.1"]);
    expect(await session.resolve("a.test", "TXT")).toEqual([["hello"]]);
    expect(await session.resolve("a.test", "MX")).toEqual([{ exchange: "mx.a.test", priority: 5 }]);
    expect(await session.resolve("1.0.18.198.in-addr.arpa", "PTR")).toEqual(["a.test"]);
    const before = asked("a.test", "A");
    expect(await session.resolve("a.test", "A")).toEqual(["198.18.0.1"]);
    expect(asked("a.test", "A")).toBe(before);
    expect(session.stats()).toEqual({ queriesSent: 4, cacheAnswers: 1, failed: 0, limitReached: false });
  });

  it("joins a question already on its way", async () => {
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500 });
    const before = asked("a.test", "TXT");
    const session = resolver.session();
    await Promise.all([session.resolve("a.test", "TXT"), session.resolve("a.test", "TXT"), session.resolve("a.test", "TXT")]);
    expect(asked("a.test", "TXT")).toBe(before + 1);
    expect(session.stats()).toMatchObject({ queriesSent: 1, cacheAnswers: 2 });
  });

  it("keeps an address within its TTL, and asks again after it", async () => {
    let now = 1_000_000;
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500, now: () => now });
    await resolver.session().resolve("a.test", "A");
    const before = asked("a.test", "A");
    now += 29_000;
    await resolver.session().resolve("a.test", "A");
    expect(asked("a.test", "A")).toBe(before);
    now += 2_000;
    await resolver.session().resolve("a.test", "A");
    expect(asked("a.test", "A")).toBe(before + 1);
  });

  it.each(["TXT", "MX", "PTR"] as const)("keeps a %s answer within its TTL too (30 s here, not a fixed time), and asks again after it", async (type) => {
    const name = type === "PTR" ? "1.0.18.198.in-addr.arpa" : "a.test";
    let now = 2_000_000;
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500, now: () => now });
    await resolver.session().resolve(name, type);
    const before = asked(name, type);
    now += 29_000;
    await resolver.session().resolve(name, type);
    expect(asked(name, type)).toBe(before);
    now += 2_000;
    await resolver.session().resolve(name, type);
    expect(asked(name, type)).toBe(before + 1);
  });

  it("caches that a name does not exist, but not a failure", async () => {
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500 });
    const session = resolver.session();
    for (let i = 0; i < 2; i += 1) await expect(session.resolve("nx.test", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
    expect(asked("nx.test", "TXT")).toBe(1);
    const failures = asked("fail.test", "TXT");
    for (let i = 0; i < 2; i += 1) await expect(session.resolve("fail.test", "TXT")).rejects.toMatchObject({ code: "ESERVFAIL" });
    // c-ares tries each question twice on SERVFAIL; what counts is that the second call asked again.
    expect(asked("fail.test", "TXT")).toBeGreaterThan(failures + 1);
    expect(session.stats().failed).toBe(2);
  });

  it("gives up a question still on its way at the session's deadline", async () => {
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 2_000 });
    const session = resolver.session(200, Date.now() + 150);
    // Without the deadline the resolver would answer ETIMEOUT, after its own 2 × 2 s.
    await expect(session.resolve("slow.test", "TXT")).rejects.toMatchObject({ code: "EDEADLINE" });
    await expect(session.resolve("a.test", "A")).rejects.toMatchObject({ code: "EDEADLINE" });
    expect(session.stats().failed).toBe(2);
    resolver.cancel();
  });

  it("waits for an answer under a deadline beyond what setTimeout honours (2^31 - 1 ms)", async () => {
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500 });
    const session = resolver.session(200, Date.now() + 2 ** 32);
    expect(await session.resolve("a.test", "A")).toEqual(["198.18.0.1"]);
    expect(session.stats().failed).toBe(0);
  });

  it("bounds a session's questions, and refuses a name that cannot be sent", async () => {
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500 });
    const session = resolver.session(2);
    await session.resolve("a.test", "A");
    await session.resolve("a.test", "TXT");
    const error = await session.resolve("a.test", "MX").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsLookupError);
    expect(error).toMatchObject({ code: LOOKUP_LIMIT });
    expect(session.stats().limitReached).toBe(true);
    await expect(resolver.session().resolve("a..test", "A")).rejects.toMatchObject({ code: "EBADNAME" });
  });

  it("keeps no more than maxRecords records of one answer", async () => {
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500, maxRecords: 3 });
    const addresses = await resolver.session().resolve("many.test", "A");
    expect(addresses).toHaveLength(3);
    expect(addresses.every((a) => a.startsWith("198.18.1."))).toBe(true);
  });

  it("keeps no more than maxCacheEntries answers, the oldest first out", async () => {
    const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 500, maxCacheEntries: 2 });
    const session = resolver.session();
    await session.resolve("a.test", "A");
    await session.resolve("a.test", "TXT");
    await session.resolve("a.test", "MX");
    const stats = session.stats();
    await session.resolve("a.test", "MX");
    await session.resolve("a.test", "TXT");
    await session.resolve("a.test", "A");
    expect(session.stats()).toMatchObject({ queriesSent: stats.queriesSent + 1, cacheAnswers: stats.cacheAnswers + 2 });
  });

  it("keeps a name that does not exist as long as the SOA of the answer says (RFC 2308), not the default", async () => {
    // A server that answers every question NXDOMAIN with an SOA whose negative TTL is 5 s.
    const socket = createSocket("udp4");
    let questions = 0;
    socket.on("message", (message, peer) => {
      const query = dnsPacket.decode(message);
      questions += 1;
      const soa = { mname: "ns.test", rname: "admin.test", serial: 1, refresh: 60, retry: 60, expire: 60, minimum: 5 };
      const reply = dnsPacket.encode({
        type: "response",
        id: query.id,
        flags: dnsPacket.RECURSION_DESIRED | 3, // rcode NXDOMAIN
        questions: query.questions,
        authorities: [{ type: "SOA", name: "test", ttl: 300, data: soa }],
      });
      socket.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    try {
      let now = 3_000_000;
      const server = `127.0.0.1:${(socket.address() as AddressInfo).port}`;
      const resolver = new AgentResolver({ servers: [server], timeoutMs: 500, now: () => now });
      await expect(resolver.session().resolve("gone.test", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
      expect(questions).toBe(1);
      now += 4_000;
      await expect(resolver.session().resolve("gone.test", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
      expect(questions).toBe(1);
      now += 2_000;
      await expect(resolver.session().resolve("gone.test", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
      expect(questions).toBe(2);
    } finally {
      socket.close();
    }
  });
});
