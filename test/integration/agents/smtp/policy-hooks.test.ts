// The engine's policy hooks against servers the test starts on 127.0.0.1: the deny list on the
// names the engine resolves (the target, the mail domain, each MX exchanger: no DNS question is
// sent for a denied name), and the check of the peer once the TCP connection is up.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDenyList } from "../../../../lib/policy/deny-list.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import type { TargetPolicy } from "../../../../lib/policy/policy-types.js";
import { resolveOptions } from "../../../../agents/smtp/options.js";
import { runHandshake } from "../../../../agents/smtp/handshake.js";
import { probeTarget } from "../../../../agents/smtp/probe-target.js";
import { FailureSource, Outcome, Phase, ProbeOptions } from "../../../../gen/smtpprobe/v1/handshake.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";
import { FAST, probeOnce } from "./probe-helpers.js";

let dns: DnsServer;
let fixture: SmtpFixture;

beforeAll(async () => {
  fixture = await startSmtpFixture();
  dns = await startDnsServer({
    "mail.test": { MX: [{ exchange: "mx.good.test", preference: 10 }, { exchange: "mx.bad.test", preference: 20 }] },
    "mx.good.test": { A: ["127.0.0.1"] },
    "mx.bad.test": { A: ["127.0.0.1"] },
    "denied-domain.test": { MX: [{ exchange: "mx.good.test", preference: 10 }] },
  });
});
afterAll(async () => {
  await dns?.stop();
  await fixture?.stop();
});

const options = () => resolveOptions(ProbeOptions.fromPartial({ timeouts: FAST }), fixture.port, "probe.test");

describe("the deny list on names, in the engine", () => {
  const denyPolicy = () =>
    createTargetPolicy({ allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port], denyList: () => parseDenyList("bad.test\ndenied-domain.test\n") });

  it("denies an MX exchanger under a listed domain without resolving it, and probes the others", async () => {
    const before = dns.queries().length;
    const result = await probeTarget({ host: "mail.test", port: fixture.port, mx: true }, options(), { dnsServers: [dns.server], policy: denyPolicy() });
    const byExchange = Object.fromEntries(result.handshakes.map((h) => [h.exchange, h]));
    expect(byExchange["mx.good.test"]?.outcome).toBe(Outcome.OUTCOME_OK);
    expect(byExchange["mx.bad.test"]).toMatchObject({
      outcome: Outcome.OUTCOME_POLICY_DENIED,
      phase: Phase.PHASE_POLICY,
      failureSource: FailureSource.FAILURE_SOURCE_POLICY,
      address: "",
      reason: "the target policy forbids mx.bad.test: mx.bad.test is on the operator's deny list (bad.test)",
    });
    expect(dns.queries().slice(before).map((q) => q.name)).not.toContain("mx.bad.test");
  });

  it("denies a listed mail domain before its MX query", async () => {
    const before = dns.queries().length;
    const result = await probeTarget({ host: "denied-domain.test", port: fixture.port, mx: true }, options(), { dnsServers: [dns.server], policy: denyPolicy() });
    expect(result.handshakes.map((h) => [h.host, Outcome[h.outcome]])).toEqual([["denied-domain.test", "OUTCOME_POLICY_DENIED"]]);
    expect(dns.queries().length).toBe(before);
  });

  it("denies a listed target name", async () => {
    const result = await probeOnce(fixture.port, {}, { dnsServers: [dns.server], policy: denyPolicy() }, "mx.bad.test");
    expect(result.outcome).toBe(Outcome.OUTCOME_POLICY_DENIED);
  });
});

describe("the peer, checked once the TCP connection is up", () => {
  it("closes at once when the check says no: POLICY_DENIED, no byte exchanged", async () => {
    const seen: [string, number][] = [];
    const result = await runHandshake({ host: "127.0.0.1", address: "127.0.0.1", port: fixture.port }, options(), {
      checkConnected: (address, port) => {
        seen.push([address, port]);
        return "127.0.0.1 is a loopback address (127.0.0.0/8)";
      },
    });
    expect(seen).toEqual([["127.0.0.1", fixture.port]]);
    expect(result).toMatchObject({
      outcome: Outcome.OUTCOME_POLICY_DENIED,
      phase: Phase.PHASE_CONNECT,
      failureSource: FailureSource.FAILURE_SOURCE_POLICY,
      reason: "closed right after connecting: 127.0.0.1 is a loopback address (127.0.0.0/8)",
    });
    expect(result.banner).toBeUndefined();
    expect(result.transcript?.entries.map((e) => e.text)).toEqual([
      "policy_denied: closed right after connecting: 127.0.0.1 is a loopback address (127.0.0.0/8)",
      "closed",
    ]);
  });

  it("probeTarget passes the policy's reason through when the peer is denied after connecting", async () => {
    // Allowed when checked, denied once connected: a deny list reloaded in between.
    const asked: string[] = [];
    const policy: TargetPolicy = (address) => {
      asked.push(address);
      return asked.length === 1 ? undefined : { kind: "deny_list", reason: `${address} is on the operator's deny list (127.0.0.1)` };
    };
    const result = await probeOnce(fixture.port, {}, { policy });
    expect(asked).toEqual(["127.0.0.1", "127.0.0.1"]);
    expect(result).toMatchObject({
      outcome: Outcome.OUTCOME_POLICY_DENIED,
      phase: Phase.PHASE_CONNECT,
      failureSource: FailureSource.FAILURE_SOURCE_POLICY,
      reason: "closed right after connecting: 127.0.0.1 is on the operator's deny list (127.0.0.1)",
    });
    expect(result.banner).toBeUndefined();
  });

  it("probeTarget passes the policy: a peer that is allowed goes on", async () => {
    const policy = createTargetPolicy({ allowCidrs: ["127.0.0.1/32"], allowPorts: [fixture.port] });
    expect((await probeOnce(fixture.port, {}, { policy })).outcome).toBe(Outcome.OUTCOME_OK);
  });
});
