// An agent's own egress address (--egress-address) against a DNS server this test starts: its
// reverse DNS and its listing read at start through the agent's resolver, published with its
// stats, found by the coordinator's discovery as AgentInfo.egress_posture, and shown by
// `smtp-probe regions`; with --blocklists off only the reverse DNS is read.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../../../../agents/probe/agent.js";
import { formatRegions } from "../../../../cli/format-regions.js";
import { makeStyle } from "../../../../cli/colors.js";
import { silentLogger } from "../../../../lib/logger.js";
import { MemoryBus } from "../../../../lib/memory-bus.js";
import { startCoordinator } from "../../../../services/coordinator/coordinator.js";
import { groupByRegion, RegionDirectory } from "../../../../services/coordinator/region-directory.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { connectProbeApi } from "../../../helpers/grpc-client.js";
import { waitFor } from "../../../helpers/wait.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";

describe("an agent's egress address against its blocklists", () => {
  let dns: DnsServer;
  let bus: MemoryBus;
  const agents: RunningAgent[] = [];

  beforeAll(async () => {
    dns = await startDnsServer({
      "7.0.18.198.in-addr.arpa": { PTR: ["probe.egress.test"] },
      "probe.egress.test": { A: ["198.18.0.7"] },
      "7.0.18.198.bl.test": { A: ["127.0.0.2"], TXT: ["listed by the test"] },
      "7.0.18.198.broken.test": { behavior: "servfail" },
    });
    bus = new MemoryBus();
    const start = (region: string, blocklists: boolean) =>
      startAgent(
        {
          region,
          agentId: `agent-${region}`,
          version: "1.0.0",
          defaultEhloName: "probe.test",
          permits: false,
          dnsServers: [dns.server],
          blocklists,
          egressAddress: "198.18.0.7",
          egressBlocklistZones: ["bl.test", "clean.test", "broken.test"],
        },
        { bus, policy: () => undefined, logger: silentLogger() },
      );
    agents.push(await start("listed", true), await start("quiet", false));
  });
  afterAll(async () => {
    for (const agent of agents) await agent.stop(0);
    await dns?.stop();
  });

  it("reads the reverse DNS and each list at start, and publishes them with the agent", async () => {
    const [listed] = agents;
    const reading = await listed!.checkEgressPosture();
    expect(reading?.posture).toEqual({
      address: "198.18.0.7",
      reverseDns: { ptrNames: ["probe.egress.test"], forwardConfirmed: true, confirmedName: "probe.egress.test", error: "" },
      blocklists: [
        { zone: "bl.test", listed: true, codes: ["127.0.0.2"], reason: "listed by the test", error: "" },
        { zone: "clean.test", listed: false, codes: [], reason: "", error: "" },
        { zone: "broken.test", listed: false, codes: [], reason: "", error: expect.stringMatching(/SERVFAIL|ESERVFAIL/i) as string },
      ],
    });
    // The start's round and this one asked each question once: the second came from the cache.
    expect(dns.queries().filter((q) => q.name === "7.0.18.198.bl.test" && q.type === "A")).toHaveLength(1);

    const directory = new RegionDirectory(bus, { discoveryTimeoutMs: 100, refreshMs: 60_000, logger: silentLogger() });
    const infos = await directory.refresh();
    const info = infos.find((a) => a.agentId === "agent-listed");
    expect(info?.egressPosture?.blocklists.map((b) => [b.zone, b.listed])).toEqual([
      ["bl.test", true],
      ["clean.test", false],
      ["broken.test", false],
    ]);
    expect(info?.egressPostureCheckedAt).toBeInstanceOf(Date);
    const text = formatRegions({ regions: groupByRegion(infos) }, makeStyle(false), new Date());
    expect(text).toContain("198.18.0.7 ✖ listed in bl.test (127.0.0.2), broken.test did not answer");
  });

  it("with blocklists off, reads the reverse DNS only", async () => {
    const quiet = agents[1]!;
    const reading = await quiet.checkEgressPosture();
    expect(reading?.posture.blocklists).toEqual([]);
    expect(reading?.posture.reverseDns?.forwardConfirmed).toBe(true);
    expect(quiet.stats().egress_posture).toMatchObject({ address: "198.18.0.7" });
  });
});

describe("the embedded agent's egress address (coordinator --egress-address)", () => {
  it("is read and listed by ListRegions", async () => {
    const dns = await startDnsServer({ "9.0.18.198.bl.test": { A: ["127.0.0.4"] } });
    const base = testCoordinatorConfig([25]);
    const coordinator = await startCoordinator(
      { ...base, embedded: { ...base.embedded, dnsServers: [dns.server], egressAddress: "198.18.0.9", egressBlocklistZones: ["bl.test"] } },
      silentLogger(),
    );
    const api = connectProbeApi(`127.0.0.1:${coordinator.port}`);
    try {
      let seen: unknown;
      await waitFor(
        async () => {
          const [agent] = (await api.listRegions()).regions.flatMap((r) => r.agents);
          seen = agent?.egressPosture;
          return seen !== undefined;
        },
        10_000,
        "the embedded agent's egress reading",
        100,
      );
      expect(seen).toMatchObject({ address: "198.18.0.9", blocklists: [{ zone: "bl.test", listed: true, codes: ["127.0.0.4"] }] });
    } finally {
      api.close();
      await coordinator.stop(1_000);
      await dns.stop();
    }
  }, 30_000);
});
