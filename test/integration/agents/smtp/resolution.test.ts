import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveOptions } from "../../../../agents/smtp/options.js";
import { probeTarget } from "../../../../agents/smtp/probe-target.js";
import { AddressFamily, FailureSource, Outcome, Phase, ProbeOptions, type TargetResult } from "../../../../gen/smtpprobe/v1/handshake.js";
import { CellState } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { resultCell } from "../../../../services/coordinator/compare-cells.js";
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
    "five.test": { MX: [1, 2, 3, 4, 5].map((n) => ({ exchange: `mx${n}.five.test`, preference: n * 10 })) },
    ...Object.fromEntries([1, 2, 3, 4, 5].map((n) => [`mx${n}.five.test`, { A: ["127.0.0.1"] }])),
    "deadprimary.test": { MX: [{ exchange: "mx1.deadprimary.test", preference: 10 }, { exchange: "mx2.deadprimary.test", preference: 20 }] },
    "mx1.deadprimary.test": { A: ["127.0.0.9"] },
    "mx2.deadprimary.test": { A: ["127.0.0.1"] },
    "four.test": { A: ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"] },
    "wide.test": { MX: [{ exchange: "mx.wide.test", preference: 10 }] },
    "mx.wide.test": { A: ["127.0.0.1", "127.0.0.2"], AAAA: ["::1"] },
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

describe("every address counts", () => {
  it("a dual-stack name where only IPv4 listens: the cell is partial, IPv6 refused", async () => {
    const r = await probeTarget({ host: "both.test", port: fixture.port }, options(), { dnsServers: [dns.server] });
    const cell = resultCell(r, "local");
    expect(cell.state).toBe(CellState.CELL_STATE_PARTIAL);
    expect(cell.cause).toBe("v4 ok, v6 refused");
    expect(cell.addresses.map((a) => [a.address, AddressFamily[a.family], CellState[a.state], a.cause])).toEqual([
      ["127.0.0.1", "ADDRESS_FAMILY_IPV4", "CELL_STATE_REACHED", ""],
      ["::1", "ADDRESS_FAMILY_IPV6", "CELL_STATE_BLOCKED", "refused"],
    ]);
  });

  it("a dead primary exchanger beside a working one: partial, the primary refused", async () => {
    const r = await probeTarget({ host: "deadprimary.test", port: fixture.port, mx: true }, options(), { dnsServers: [dns.server] });
    const cell = resultCell(r, "local");
    expect([CellState[cell.state], cell.cause]).toEqual(["CELL_STATE_PARTIAL", "1 of 2 ok, 1 refused"]);
    expect(cell.addresses.map((a) => [a.exchange, a.address, a.cause])).toEqual([
      ["mx1.deadprimary.test", "127.0.0.9", "refused"],
      ["mx2.deadprimary.test", "127.0.0.1", ""],
    ]);
  });
});

describe("limits are visible: what max_exchangers and max_addresses leave out is in not_probed", () => {
  const probe = (host: string, mx: boolean, extra: Partial<ProbeOptions> = {}) =>
    probeTarget({ host, port: fixture.port, mx }, options(extra), { dnsServers: [dns.server] });
  const leftOut = (r: TargetResult) => r.notProbed.map((n) => [n.host, n.address, n.exchange, n.mxPreference, n.limit, n.limitValue]);

  it("five exchangers, the default limit: the first three probed, the other two named with the limit", async () => {
    const r = await probe("five.test", true);
    expect(r.exchangers.map((x) => x.exchange)).toEqual(["mx1.five.test", "mx2.five.test", "mx3.five.test"]);
    expect(r.handshakes.map((h) => h.exchange)).toEqual(["mx1.five.test", "mx2.five.test", "mx3.five.test"]);
    expect(leftOut(r)).toEqual([
      ["mx4.five.test", "", "mx4.five.test", 40, "max_exchangers", 3],
      ["mx5.five.test", "", "mx5.five.test", 50, "max_exchangers", 3],
    ]);
    expect(r.notProbedOmitted).toBe(0);
    // The exchangers left out were never resolved.
    expect(dns.queries().filter((q) => q.name === "mx4.five.test" || q.name === "mx5.five.test")).toEqual([]);
  });

  it("five exchangers with max_exchangers 5: all probed, nothing left out", async () => {
    const r = await probe("five.test", true, { maxExchangers: 5 });
    expect(r.handshakes.map((h) => [h.exchange, Outcome[h.outcome]])).toEqual(
      [1, 2, 3, 4, 5].map((n) => [`mx${n}.five.test`, "OUTCOME_OK"]),
    );
    expect(r.notProbed).toEqual([]);
  });

  it("four addresses, the default limit: two probed, two named", async () => {
    const r = await probe("four.test", false);
    expect(r.handshakes.map((h) => h.address)).toEqual(["127.0.0.1", "127.0.0.2"]);
    expect(leftOut(r)).toEqual([
      ["four.test", "127.0.0.3", "", 0, "max_addresses", 2],
      ["four.test", "127.0.0.4", "", 0, "max_addresses", 2],
    ]);
  });

  it("four addresses with max_addresses 4: all probed", async () => {
    const r = await probe("four.test", false, { maxAddresses: 4 });
    expect(r.handshakes.map((h) => h.address)).toEqual(["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    expect(r.notProbed).toEqual([]);
  });

  it("an exchanger's addresses left out carry the exchanger; IPv4 and IPv6 are taken in turn", async () => {
    const r = await probe("wide.test", true);
    expect(r.handshakes.map((h) => h.address)).toEqual(["127.0.0.1", "::1"]);
    expect(leftOut(r)).toEqual([["mx.wide.test", "127.0.0.2", "mx.wide.test", 10, "max_addresses", 2]]);
  });
});
