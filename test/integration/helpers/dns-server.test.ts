import { promises as dns } from "node:dns";
import { describe, expect, it } from "vitest";
import { stopAfterEach } from "../../helpers/cleanup.js";
import { startDnsServer, type Zone } from "../../helpers/dns-server.js";

const zone: Zone = {
  "example.test": {
    A: ["127.0.0.1"],
    AAAA: ["::1"],
    MX: [
      { exchange: "mx1.example.test", preference: 10 },
      { exchange: "mx2.example.test", preference: 20 },
    ],
  },
  "mx1.example.test": { A: ["127.0.0.1"] },
  "alias.example.test": { CNAME: "mx1.example.test" },
  "broken.test": { behavior: "servfail" },
  "refusing.test": { behavior: "refused" },
  "silent.test": { behavior: "drop" },
};

async function errorCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

describe("startDnsServer", () => {
  const track = stopAfterEach();

  async function resolverFor(): Promise<{ resolver: dns.Resolver; server: Awaited<ReturnType<typeof startDnsServer>> }> {
    const server = track(await startDnsServer(zone));
    // tries: 1 and a short timeout, so "drop" costs 100 ms and not c-ares' default seconds.
    const resolver = new dns.Resolver({ timeout: 100, tries: 1 });
    resolver.setServers([server.server]);
    return { resolver, server };
  }

  it("answers A, AAAA and MX from the zone, case-insensitively", async () => {
    const { resolver, server } = await resolverFor();
    expect(server.server).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await resolver.resolve4("example.test")).toEqual(["127.0.0.1"]);
    expect(await resolver.resolve6("example.test")).toEqual(["::1"]);
    expect(await resolver.resolveMx("Example.TEST.")).toEqual([
      { exchange: "mx1.example.test", priority: 10 },
      { exchange: "mx2.example.test", priority: 20 },
    ]);
    expect(server.queries()).toEqual([
      { name: "example.test", type: "A" },
      { name: "example.test", type: "AAAA" },
      { name: "example.test", type: "MX" },
    ]);
  });

  it("NXDOMAIN for unknown names, NODATA for a missing type", async () => {
    const { resolver } = await resolverFor();
    expect(await errorCode(resolver.resolve4("nowhere.test"))).toBe("ENOTFOUND");
    expect(await errorCode(resolver.resolveMx("mx2.example.test"))).toBe("ENOTFOUND");
    expect(await errorCode(resolver.resolve6("mx1.example.test"))).toBe("ENODATA");
  });

  it("follows a CNAME inside the zone", async () => {
    const { resolver } = await resolverFor();
    expect(await resolver.resolve4("alias.example.test")).toEqual(["127.0.0.1"]);
    expect(await resolver.resolveCname("alias.example.test")).toEqual(["mx1.example.test"]);
  });

  it("SERVFAIL, REFUSED and no answer at all", async () => {
    const { resolver } = await resolverFor();
    expect(await errorCode(resolver.resolve4("broken.test"))).toBe("ESERVFAIL");
    expect(await errorCode(resolver.resolve4("refusing.test"))).toBe("EREFUSED");
    expect(await errorCode(resolver.resolve4("silent.test"))).toBe("ETIMEOUT");
  });

  it("stop() frees the port", async () => {
    const server = await startDnsServer(zone);
    const resolver = new dns.Resolver({ timeout: 100, tries: 1 });
    resolver.setServers([server.server]);
    await server.stop();
    await server.stop(); // idempotent
    expect(await errorCode(resolver.resolve4("example.test"))).toMatch(/ECONNREFUSED|ETIMEOUT/);
  });
});
