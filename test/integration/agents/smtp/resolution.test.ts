import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveOptions } from "../../../../agents/smtp/options.js";
import { probeTarget } from "../../../../agents/smtp/probe-target.js";
import { AddressFamily, FailureSource, Outcome, Phase, ProbeOptions } from "../../../../gen/smtpprobe/v1/handshake.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { FAST } from "./probe-helpers.js";

let dns: DnsServer;
let fixture: SmtpFixture;

beforeAll(async () => {
  fixture = await startSmtpFixture();
  dns = await startDnsServer({
    "mail.test": {
      MX: [
        { exchange: "mx2.mail.test", preference: 20 },
        { exchange: "mx1.mail.test", preference: 10 },
        { exchange: "mx3.mail.test", preference: 30 },
      ],
    },
    "mx1.mail.test": { A: ["127.0.0.1"] },
    "mx2.mail.test": { A: ["127.0.0.1"] },
    "mx3.mail.test": { A: ["127.0.0.3"] },
    "implicit.test": { A: ["127.0.0.1"] },
    "nullmx.test": { MX: [{ exchange: ".", preference: 0 }] },
    "both.test": { A: ["127.0.0.1"], AAAA: ["::1"] },
    "forbidden.test": { A: ["127.0.0.1"] },
    "broken.test": { behavior: "servfail" },
  });
});
afterAll(async () => {
  await dns?.stop();
  await fixture?.stop();
});

function options(extra: Partial<ProbeOptions> = {}) {
  return resolveOptions(ProbeOptions.fromPartial({ timeouts: FAST, ...extra }), fixture.port, "probe.test");
}

describe("resolution through a DNS server the test started", () => {
  it("--mx probes each exchanger in preference order, up to the limit", async () => {
    const r = await probeTarget(
      { host: "mail.test", port: fixture.port, mx: true },
      options({ maxExchangers: 2 }),
      { dnsServers: [dns.server] },
    );
    expect(r.exchangers.map((x) => x.exchange)).toEqual(["mx1.mail.test", "mx2.mail.test"]);
    expect(r.handshakes.map((h) => [h.exchange, h.mxPreference, h.address, Outcome[h.outcome]])).toEqual([
      ["mx1.mail.test", 10, "127.0.0.1", "OUTCOME_OK"],
      ["mx2.mail.test", 20, "127.0.0.1", "OUTCOME_OK"],
    ]);
    // The certificate is checked against the exchanger's name, and SNI carries it.
    expect(r.handshakes[0]?.tls?.checkedName).toBe("mx1.mail.test");
    expect(fixture.servernames()).toEqual(expect.arrayContaining(["mx1.mail.test", "mx2.mail.test"]));
  });

  it("a domain without MX is its own exchanger (RFC 5321 §5.1)", async () => {
    const r = await probeTarget({ host: "implicit.test", port: fixture.port, mx: true }, options(), { dnsServers: [dns.server] });
    expect(r.exchangers).toEqual([{ exchange: "implicit.test", preference: 0 }]);
    expect(r.handshakes[0]?.outcome).toBe(Outcome.OUTCOME_OK);
  });

  it.each([
    ["nullmx.test", true, /null MX/],
    ["nope.test", false, /does not exist \(NXDOMAIN\)/],
    ["broken.test", false, /SERVFAIL/],
  ])("%s fails at resolution with the reason", async (host, mx, reason) => {
    const r = await probeTarget({ host, port: fixture.port, mx }, options(), { dnsServers: [dns.server] });
    expect(r.handshakes).toHaveLength(1);
    const [h] = r.handshakes;
    expect(h?.outcome).toBe(Outcome.OUTCOME_DNS_FAILED);
    expect(h?.phase).toBe(Phase.PHASE_RESOLVE);
    expect(h?.failureSource).toBe(FailureSource.FAILURE_SOURCE_RESOLVER);
    expect(h?.reason).toMatch(reason);
  });

  it("IPv4 only, IPv6 only, or both", async () => {
    const addresses = async (family: AddressFamily) =>
      (await probeTarget({ host: "both.test", port: fixture.port }, options({ addressFamily: family }), { dnsServers: [dns.server] })).handshakes.map(
        (h) => h.address,
      );
    expect(await addresses(AddressFamily.ADDRESS_FAMILY_IPV4)).toEqual(["127.0.0.1"]);
    expect(await addresses(AddressFamily.ADDRESS_FAMILY_IPV6)).toEqual(["::1"]);
    expect(await addresses(AddressFamily.ADDRESS_FAMILY_BOTH)).toEqual(["127.0.0.1", "::1"]);
  });

  it("the policy sees every resolved address, and a denied one is never connected to", async () => {
    const before = fixture.connections();
    const seen: string[] = [];
    const r = await probeTarget({ host: "forbidden.test", port: fixture.port }, options(), {
      dnsServers: [dns.server],
      policy: (address) => {
        seen.push(address);
        return { kind: "range", reason: "loopback is not allowed" };
      },
    });
    expect(seen).toEqual(["127.0.0.1"]);
    expect(r.handshakes[0]?.outcome).toBe(Outcome.OUTCOME_POLICY_DENIED);
    expect(r.handshakes[0]?.reason).toMatch(/loopback is not allowed/);
    expect(fixture.connections()).toBe(before);
  });
});
