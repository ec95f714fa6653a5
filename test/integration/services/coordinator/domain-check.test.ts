// The domain check through the agents: two regions whose resolvers answer differently (two DNS
// servers started here), each region's posture, the differences named, a region nobody serves
// missing with its reason; and an agent's answer that fails the coordinator's checks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../../../../agents/probe/agent.js";
import { DomainTask, DomainTaskReply } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import type { DomainCheckEvent } from "../../../../gen/smtpprobe/v1/domain.js";
import { SUBJECTS } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { MemoryBus } from "../../../../lib/memory-bus.js";
import { DomainCheckRunner } from "../../../../services/coordinator/domain-check-run.js";
import { RegionDirectory } from "../../../../services/coordinator/region-directory.js";
import { validateDomainRequest } from "../../../../services/coordinator/validate-domain-request.js";
import { startDnsServer, type DnsServer, type Zone } from "../../../helpers/dns-server.js";

const common: Zone = {
  "_dmarc.geo.test": { TXT: ["v=DMARC1; p=reject; rua=mailto:d@geo.test"] },
  "mx.us.geo.test": { A: ["198.18.10.1"] },
  "mx.eu.geo.test": { A: ["198.18.20.1"] },
  "1.10.18.198.bl.test": { A: ["127.0.0.2"] },
};
// A geo-steered MX and an SPF record that differs: what each region's resolver answers.
const usZone: Zone = { ...common, "geo.test": { MX: [{ exchange: "mx.us.geo.test", preference: 10 }], TXT: ["v=spf1 mx -all"] } };
const euZone: Zone = { ...common, "geo.test": { MX: [{ exchange: "mx.eu.geo.test", preference: 10 }], TXT: ["v=spf1 mx ~all"] } };

describe("CheckDomain through agents in two regions", () => {
  let us: DnsServer;
  let eu: DnsServer;
  let bus: MemoryBus;
  const agents: RunningAgent[] = [];
  let directory: RegionDirectory;

  beforeAll(async () => {
    [us, eu] = await Promise.all([startDnsServer(usZone), startDnsServer(euZone)]);
    bus = new MemoryBus();
    for (const [region, dns] of [["us-east", us], ["eu-west", eu]] as const) {
      agents.push(
        await startAgent(
          { region, agentId: `agent-${region}`, version: "1", defaultEhloName: "probe.test", permits: false, dnsServers: [dns.server] },
          { bus, policy: () => undefined, logger: silentLogger() },
        ),
      );
    }
    directory = new RegionDirectory(bus, { discoveryTimeoutMs: 100, refreshMs: 60_000, logger: silentLogger() });
  });
  afterAll(async () => {
    for (const agent of agents) await agent.stop(0);
    await Promise.all([us?.stop(), eu?.stop()]);
  });

  const accepted = (fields: Parameters<typeof validateDomainRequest>[0]) => {
    const validation = validateDomainRequest(fields, { maxDeadlineMs: 10_000 });
    if (!validation.ok) throw new Error(JSON.stringify(validation.violations));
    return validation.value;
  };
  const request = (regions: string[] = []) =>
    accepted({ domain: "GEO.test", dkimSelectors: [], commonDkimSelectors: false, regions, blocklistZones: ["bl.test"], skipBlocklists: false, deadlineMs: 3000 });

  it("streams each region's posture, then a report naming what differs", async () => {
    const events: DomainCheckEvent[] = [];
    const runner = new DomainCheckRunner({ bus, directory, logger: silentLogger() });
    const report = await runner.run(request(), (e) => events.push(e), new AbortController().signal);
    expect(events[0]?.accepted).toMatchObject({ regions: ["eu-west", "us-east"], deadlineMs: 3000 });
    expect(events.filter((e) => e.posture).map((e) => e.posture!.region).sort()).toEqual(["eu-west", "us-east"]);
    expect(report.postures.map((p) => [p.region, p.mx?.exchangers.map((e) => e.exchange)])).toEqual([
      ["eu-west", ["mx.eu.geo.test"]],
      ["us-east", ["mx.us.geo.test"]],
    ]);
    expect(report.missing).toEqual([]);
    const summaries = report.differences.map((d) => d.summary);
    expect(summaries).toContain("The MX differs: 10 mx.eu.geo.test from eu-west; 10 mx.us.geo.test from us-east.");
    expect(summaries).toContain("The SPF record differs: v=spf1 mx ~all from eu-west; v=spf1 mx -all from us-east.");
    expect(report.differences.every((d) => d.regions.join() === "eu-west,us-east")).toBe(true);
    // Both regions see the same DMARC record: not a difference.
    expect(report.differences.map((d) => d.part)).not.toContain("dmarc");
    // The us exchanger's address is listed, and only the us region probes it.
    expect(report.postures[1]?.findings.map((f) => f.code)).toContain("dnsbl_listed");
    expect(runner.find(report.checkId)).toBe(report);
  });

  it("names a region nobody serves as missing, never an error of the call", async () => {
    const runner = new DomainCheckRunner({ bus, directory, logger: silentLogger() });
    const report = await runner.run(request(["ap-south", "us-east"]), () => undefined, new AbortController().signal);
    expect(report.postures.map((p) => p.region)).toEqual(["us-east"]);
    expect(report.missing).toEqual([{ region: "ap-south", reason: "no agent serves region ap-south" }]);
  });

  it("does not trust an agent's answer for another domain", async () => {
    const liar = bus.subscribe(SUBJECTS.domain("liar"), (msg) => {
      const task = DomainTask.decode(msg.data);
      msg.respond(DomainTaskReply.encode({ agentId: "liar-1", posture: { domain: "other.test", region: task.region, spf: undefined, dmarc: undefined, mx: undefined, dns: undefined, dkimKeys: [], findings: [], totalMs: 0 } }).finish());
    });
    try {
      const runner = new DomainCheckRunner({ bus, directory, logger: silentLogger() });
      const report = await runner.run(request(["liar"]), () => undefined, new AbortController().signal);
      expect(report.missing).toEqual([{ region: "liar", reason: "the agent checked other.test, not geo.test" }]);
    } finally {
      liar.unsubscribe();
    }
  });
});
