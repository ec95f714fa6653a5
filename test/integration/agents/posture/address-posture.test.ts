// One address's posture against a DNS server the test starts: the bounds a hostile zone meets, at
// most 4 PTR names checked forward and a listing's reason cut at 512 characters.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentResolver } from "../../../../agents/dns/agent-resolver.js";
import { checkAddress } from "../../../../agents/posture/address-posture.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";

const names = Array.from({ length: 6 }, (_, i) => `n${i}.test`);
let dns: DnsServer;
beforeAll(async () => {
  dns = await startDnsServer({
    // Six PTR names; only the fifth (beyond the four checked) points back at the address.
    "7.0.18.198.in-addr.arpa": { PTR: names },
    [names[4]!]: { A: ["198.18.0.7"] },
    "7.0.18.198.bl.test": { A: ["127.0.0.2"], TXT: [["x".repeat(255), "y".repeat(255), "z".repeat(255)]] },
  });
});
afterAll(async () => {
  await dns?.stop();
});

describe("checkAddress", () => {
  it("checks at most 4 PTR names forward, and cuts a listing's reason at 512 characters", async () => {
    const session = new AgentResolver({ servers: [dns.server], timeoutMs: 500 }).session();
    const posture = await checkAddress("198.18.0.7", ["bl.test"], session);
    expect(posture.reverseDns).toMatchObject({ ptrNames: names, forwardConfirmed: false, confirmedName: "" });
    const askedForward = dns.queries().filter((q) => q.type === "A" && names.includes(q.name)).map((q) => q.name);
    expect(new Set(askedForward)).toEqual(new Set(names.slice(0, 4)));
    expect(posture.blocklists[0]).toMatchObject({ zone: "bl.test", listed: true, codes: ["127.0.0.2"] });
    expect(posture.blocklists[0]!.reason).toBe(`${"x".repeat(255)}${"y".repeat(255)}zz`);
  });
});
