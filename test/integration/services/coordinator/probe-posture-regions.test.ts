// A probe with the posture option through a coordinator over NATS, from two regions whose agents
// resolve with their own DNS servers (started here): the server reached (an smtp-server fixture on
// 127.0.0.1) has another PTR name in each, and is listed in one region's blocklist zone only; and
// one region's agent leaves from an address (--egress-address) its blocklist lists. The comparison
// names each: REVERSE_DNS_DIFFERS, BLOCKLIST_DIFFERS and AGENT_LISTED. Only 127.0.0.1 is contacted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../../../../agents/probe/agent.js";
import { VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import type { Bus } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { startDnsServer, type DnsServer, type Zone } from "../../../helpers/dns-server.js";
import { connectProbeApi, type ProbeApi } from "../../../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { waitFor } from "../../../helpers/wait.js";

await need(natsServerAvailable);

const usZone: Zone = {
  "1.0.0.127.in-addr.arpa": { PTR: ["mx.us.test"] },
  "mx.us.test": { A: ["127.0.0.1"] },
  "1.0.0.127.bl.test": { A: ["127.0.0.2"], TXT: ["listed in the us view"] },
  "7.0.18.198.in-addr.arpa": { PTR: ["agent.us.test"] },
};
const euZone: Zone = {
  "1.0.0.127.in-addr.arpa": { PTR: ["mx.eu.test"] },
  "mx.eu.test": { A: ["127.0.0.1"] },
  // The eu agent's own address is listed.
  "9.0.18.198.bl.test": { A: ["127.0.0.3"] },
};

describe("a probe with posture from two regions whose resolvers answer differently", () => {
  let nats: NatsServer;
  let fixture: SmtpFixture;
  let dns: DnsServer[] = [];
  let coordinator: RunningCoordinator;
  let api: ProbeApi;
  const agents: { agent: RunningAgent; bus: Bus }[] = [];

  beforeAll(async () => {
    [nats, fixture, ...dns] = await Promise.all([startNatsServer(), startSmtpFixture({ name: "fixture.test" }), startDnsServer(usZone), startDnsServer(euZone)]);
    coordinator = await startCoordinator(testCoordinatorConfig([fixture.port], { nats: { servers: nats.url } }), silentLogger());
    const setups = [
      ["us-east", dns[0]!, "198.18.0.7"],
      ["eu-west", dns[1]!, "198.18.0.9"],
    ] as const;
    for (const [region, server, egressAddress] of setups) {
      const bus = await connectNatsBus({ servers: nats.url, name: `test-agent-${region}` });
      const agent = await startAgent(
        { region, agentId: `${region}-1`, version: "9.9.9", heartbeatMs: 200, defaultEhloName: "probe.test", dnsServers: [server.server], egressAddress, egressBlocklistZones: ["bl.test"] },
        { bus, policy: createTargetPolicy({ allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] }), logger: silentLogger() },
      );
      agents.push({ agent, bus });
    }
    api = connectProbeApi(`127.0.0.1:${coordinator.port}`);
    // Both agents listed, with their egress readings.
    await waitFor(
      async () => {
        const agentsSeen = (await api.listRegions()).regions.flatMap((r) => r.agents);
        return agentsSeen.filter((a) => a.egressPosture !== undefined).length === 2;
      },
      15_000,
      "both agents listed with their egress readings",
      100,
    );
  }, 30_000);

  afterAll(async () => {
    api?.close();
    for (const { agent, bus } of agents) {
      await agent.stop(1_000);
      await bus.drain();
    }
    await coordinator?.stop(1_000);
    await fixture?.stop();
    await Promise.all(dns.map((d) => d.stop()));
    await nats?.stop();
  });

  it("lists each agent's egress reading", async () => {
    const listed = (await api.listRegions()).regions.flatMap((r) => r.agents.map((a) => [a.region, a.egressPosture?.address, a.egressPosture?.blocklists.map((b) => b.listed)]));
    expect(listed.sort()).toEqual([
      ["eu-west", "198.18.0.9", [true]],
      ["us-east", "198.18.0.7", [false]],
    ]);
  });

  it("names the reverse DNS and the listing each region saw, and the region whose agent is listed", async () => {
    const report = await api.probe(
      { host: "127.0.0.1", ports: [fixture.port], regions: ["us-east", "eu-west"], options: { posture: { blocklistZones: ["bl.test"] } } },
      { deadlineMs: 15_000 },
    );
    const verdict = (kind: VerdictKind) => report.comparison?.verdicts.find((v) => v.kind === kind);
    expect(verdict(VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE)?.regions.sort()).toEqual(["eu-west", "us-east"]);

    const port = fixture.port;
    expect(verdict(VerdictKind.VERDICT_KIND_REVERSE_DNS_DIFFERS)).toMatchObject({
      summary: `Port ${port}: the reverse DNS of the server reached is mx.us.test from us-east but mx.eu.test from eu-west: other servers, or resolvers that answer differently.`,
      causes: [{ region: "eu-west", cause: "reverse DNS mx.eu.test, not mx.us.test" }],
    });
    expect(verdict(VerdictKind.VERDICT_KIND_BLOCKLIST_DIFFERS)?.summary).toBe(
      `Port ${port}: the server reached is listed in bl.test from us-east but listed nowhere from eu-west: other servers, or blocklist answers that differ by resolver.`,
    );
    expect(verdict(VerdictKind.VERDICT_KIND_AGENT_LISTED)).toMatchObject({
      regions: ["eu-west"],
      causes: [{ region: "eu-west", cause: "the agent's address 198.18.0.9 is listed in bl.test (127.0.0.3)" }],
    });
    expect(report.tasks.map((t) => [t.region, t.agentEgressPosture?.address])).toEqual([
      ["us-east", "198.18.0.7"],
      ["eu-west", "198.18.0.9"],
    ]);
  }, 30_000);
});
