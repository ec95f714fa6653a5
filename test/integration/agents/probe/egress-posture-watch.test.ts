// The egress address's rounds against a DNS server started here: a listing that appears is seen by
// the next round once the resolver's cache has let the old answer go, and logged once as a
// warning; its end is logged too. One round at a time; rounds are bounded in questions.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentResolver } from "../../../../agents/dns/agent-resolver.js";
import { EgressPostureWatch } from "../../../../agents/probe/egress-posture.js";
import { startDnsServer, type DnsServer, type Zone } from "../../../helpers/dns-server.js";

describe("EgressPostureWatch", () => {
  // Entries are kept by reference: changing one changes what the server answers.
  const zone: Zone = {
    "7.0.18.198.in-addr.arpa": { PTR: ["agent.egress.test"] },
    "agent.egress.test": { A: ["198.18.0.7"] },
    "7.0.18.198.bl.test": { A: [] },
  };
  let dns: DnsServer;
  beforeAll(async () => {
    dns = await startDnsServer(zone, { ttl: 30 });
  });
  afterAll(async () => {
    await dns?.stop();
  });

  it("sees a listing come and go, round by round, and logs each change once", async () => {
    let now = 1_000_000;
    const resolver = new AgentResolver({ servers: [dns.server], now: () => now });
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const watch = new EgressPostureWatch({ address: "198.18.0.7", zones: ["bl.test"], resolver, intervalMs: 60_000, deadlineMs: 5_000, logger });
    expect(watch.latest()).toBeUndefined();

    const first = await watch.check();
    expect(first.posture.blocklists).toEqual([{ zone: "bl.test", listed: false, codes: [], reason: "", error: "" }]);
    expect(first.posture.reverseDns).toMatchObject({ ptrNames: ["agent.egress.test"], forwardConfirmed: true });
    expect(lines).toEqual([]);

    zone["7.0.18.198.bl.test"]!.A = ["127.0.0.2"];
    // Within the cache's time the old answer stands.
    expect((await watch.check()).posture.blocklists[0]?.listed).toBe(false);
    now += 61_000;
    const listed = await watch.check();
    expect(listed.posture.blocklists[0]).toMatchObject({ listed: true, codes: ["127.0.0.2"] });
    expect(watch.latest()).toBe(listed);
    now += 61_000;
    await watch.check(); // still listed: nothing more said
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[40, "the egress address 198.18.0.7 is listed in bl.test: servers that use these lists may refuse or delay this agent"]]);

    zone["7.0.18.198.bl.test"]!.A = [];
    now += 61_000;
    expect((await watch.check()).posture.blocklists[0]?.listed).toBe(false);
    expect(lines.at(-1)?.msg).toBe("the egress address 198.18.0.7 is listed in no blocklist asked");
    await watch.stop();
  });

  it("joins a round already running", async () => {
    const resolver = new AgentResolver({ servers: [dns.server] });
    const watch = new EgressPostureWatch({ address: "198.18.0.7", zones: ["bl.test"], resolver, intervalMs: 60_000, deadlineMs: 5_000, logger: pino({ level: "silent" }) });
    const [a, b] = [watch.check(), watch.check()];
    expect(a).toBe(b);
    await a;
    await watch.stop();
  });
});
