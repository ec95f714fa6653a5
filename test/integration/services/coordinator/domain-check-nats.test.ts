// The domain check over a real nats-server: two regions, each agent with its own resolver (its
// own DNS server started here), the same exchanger address seen differently: another PTR name,
// listed in one region's blocklist zone and not in the other's, another SPF record. The
// comparison names each part, the regions and what each saw.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../../../../agents/probe/agent.js";
import type { Bus } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { DomainCheckRunner } from "../../../../services/coordinator/domain-check-run.js";
import { RegionDirectory } from "../../../../services/coordinator/region-directory.js";
import { validateDomainRequest } from "../../../../services/coordinator/validate-domain-request.js";
import { startDnsServer, type DnsServer, type Zone } from "../../../helpers/dns-server.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";

await need(natsServerAvailable);

const common: Zone = {
  "split.test": { MX: [{ exchange: "mx.split.test", preference: 10 }] },
  "_dmarc.split.test": { TXT: ["v=DMARC1; p=reject; rua=mailto:d@split.test"] },
  "mx.split.test": { A: ["198.18.30.1"] },
  "mail.split.test": { A: ["198.18.30.1"] },
};
// A split view: each region's resolver answers from its own zone.
const usZone: Zone = {
  ...common,
  "split.test": { ...common["split.test"], TXT: ["v=spf1 mx -all"] },
  "1.30.18.198.in-addr.arpa": { PTR: ["mx.split.test"] },
  "1.30.18.198.bl.test": { A: ["127.0.0.2"], TXT: ["listed by the us view"] },
};
const euZone: Zone = {
  ...common,
  "split.test": { ...common["split.test"], TXT: ["v=spf1 ip4:198.18.30.0/24 ~all"] },
  "1.30.18.198.in-addr.arpa": { PTR: ["mail.split.test"] },
};

describe("CheckDomain over NATS: two regions whose resolvers answer differently", () => {
  let nats: NatsServer;
  let us: DnsServer;
  let eu: DnsServer;
  const buses: Bus[] = [];
  const agents: RunningAgent[] = [];
  let runner: DomainCheckRunner;

  beforeAll(async () => {
    [nats, us, eu] = await Promise.all([startNatsServer({ jetstream: false }), startDnsServer(usZone), startDnsServer(euZone)]);
    for (const [region, dns] of [["us-east", us], ["eu-west", eu]] as const) {
      const bus = await connectNatsBus({ servers: nats.url, name: `agent-${region}` });
      buses.push(bus);
      agents.push(
        await startAgent(
          { region, agentId: `agent-${region}`, version: "1.0.0", defaultEhloName: "probe.test", permits: false, dnsServers: [dns.server] },
          { bus, policy: () => undefined, logger: silentLogger() },
        ),
      );
    }
    const bus = await connectNatsBus({ servers: nats.url, name: "coordinator" });
    buses.push(bus);
    const directory = new RegionDirectory(bus, { discoveryTimeoutMs: 500, refreshMs: 60_000, logger: silentLogger() });
    runner = new DomainCheckRunner({ bus, directory, logger: silentLogger() });
  }, 30_000);
  afterAll(async () => {
    for (const agent of agents) await agent.stop(0);
    await Promise.all(buses.map((b) => b.drain().catch(() => undefined)));
    await Promise.all([us?.stop(), eu?.stop(), nats?.stop()]);
  });

  it("names the reverse DNS, the listing and the SPF record each region saw", async () => {
    const validation = validateDomainRequest(
      { domain: "split.test", dkimSelectors: [], commonDkimSelectors: false, regions: ["us-east", "eu-west"], blocklistZones: ["bl.test"], skipBlocklists: false, deadlineMs: 5000 },
      { maxDeadlineMs: 10_000 },
    );
    if (!validation.ok) throw new Error(JSON.stringify(validation.violations));
    const report = await runner.run(validation.value, () => undefined, new AbortController().signal);
    expect(report.missing).toEqual([]);
    expect(report.postures.map((p) => p.region)).toEqual(["eu-west", "us-east"]);
    // Each agent asked its own resolver only.
    expect(us.queries().map((q) => q.name)).toContain("1.30.18.198.in-addr.arpa");
    expect(eu.queries().map((q) => q.name)).toContain("1.30.18.198.in-addr.arpa");

    const byPart = (part: string) => report.differences.filter((d) => d.part === part).map((d) => [d.summary, d.regions]);
    expect(byPart("reverse_dns")).toEqual([
      ["The reverse DNS of 198.18.30.1 differs: mail.split.test from eu-west; mx.split.test from us-east.", ["eu-west", "us-east"]],
    ]);
    expect(byPart("blocklist")).toEqual([
      ["The listing of 198.18.30.1 in bl.test differs: not listed from eu-west; listed (127.0.0.2) from us-east.", ["eu-west", "us-east"]],
    ]);
    expect(byPart("spf").map(([summary]) => summary)).toContain(
      "The SPF record differs: v=spf1 ip4:198.18.30.0/24 ~all from eu-west; v=spf1 mx -all from us-east.",
    );
    // The same MX and the same addresses everywhere: not differences.
    expect(byPart("mx")).toEqual([]);
    expect(byPart("dmarc")).toEqual([]);
    // The region whose view lists the address has the finding; the other has not.
    const codes = (region: string) => report.postures.find((p) => p.region === region)?.findings.map((f) => f.code) ?? [];
    expect(codes("us-east")).toContain("dnsbl_listed");
    expect(codes("eu-west")).not.toContain("dnsbl_listed");
  }, 30_000);
});
