import { describe, expect, it } from "vitest";
import { AGENT_DEFAULTS, InvalidAgentConfigError, resolveAgentConfig, type AgentConfig } from "../../../../agents/probe/agent-config.js";

const BASE: AgentConfig = { region: "eu-west", agentId: "agent-1", version: "1.2.3", defaultEhloName: "probe.example.org" };

describe("resolveAgentConfig", () => {
  it("fills in the defaults", () => {
    expect(resolveAgentConfig(BASE)).toEqual({
      region: "eu-west",
      agentId: "agent-1",
      version: "1.2.3",
      concurrency: AGENT_DEFAULTS.concurrency,
      heartbeatMs: AGENT_DEFAULTS.heartbeatMs,
      canaries: [],
      canaryIntervalMs: AGENT_DEFAULTS.canaryIntervalMs,
      canaryDeadlineMs: AGENT_DEFAULTS.canaryDeadlineMs,
      maxResultBytes: AGENT_DEFAULTS.maxResultBytes,
      permits: true,
      blocklists: true,
      egressAddress: undefined,
      egressBlocklistZones: ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"],
      egressCheckIntervalMs: 300_000,
      defaultEhloName: "probe.example.org",
      dnsServers: undefined,
      extraCa: undefined,
    });
  });

  it("keeps what is given within bounds", () => {
    const config: AgentConfig = {
      ...BASE,
      concurrency: 1,
      heartbeatMs: 50,
      canaries: [{ host: "mx.example.org", port: 25 }],
      canaryIntervalMs: 1,
      canaryDeadlineMs: 10_000,
      maxResultBytes: 1024,
      permits: false,
      dnsServers: ["192.0.2.53"],
      extraCa: "PEM",
      egressAddress: "2001:db8::25",
      egressBlocklistZones: ["bl.example"],
      egressCheckIntervalMs: 1_000,
    };
    expect(resolveAgentConfig(config)).toMatchObject({ ...config, canaries: [{ host: "mx.example.org", port: 25 }] });
    expect(resolveAgentConfig({ ...BASE, egressBlocklistZones: ["BL.Example."] }).egressBlocklistZones).toEqual(["bl.example"]);
  });

  it("resolves the machine's EHLO name once when none is given", () => {
    expect(typeof resolveAgentConfig({ ...BASE, defaultEhloName: undefined }).defaultEhloName).toBe("string");
  });

  const bad: [string, Partial<AgentConfig>, string, string][] = [
    ["an unsafe region", { region: "EU.west" }, "region", 'must be lower-case letters, digits and hyphens (at most 63), not "EU.west"'],
    ["an empty region", { region: "" }, "region", 'must be lower-case letters, digits and hyphens (at most 63), not ""'],
    ["an agent id with a space", { agentId: "agent 1" }, "agentId", "must be 1 to 128 printable ASCII characters without spaces"],
    ["an agent id too long", { agentId: "a".repeat(129) }, "agentId", "must be 1 to 128 printable ASCII characters without spaces"],
    ["no concurrency", { concurrency: 0 }, "concurrency", "must be an integer from 1 to 10000, not 0"],
    ["a fractional concurrency", { concurrency: 1.5 }, "concurrency", "must be an integer from 1 to 10000, not 1.5"],
    ["a heartbeat under the bound", { heartbeatMs: 49 }, "heartbeatMs", "must be an integer from 50 to 60000, not 49"],
    ["a heartbeat over the bound", { heartbeatMs: 60_001 }, "heartbeatMs", "must be an integer from 50 to 60000, not 60001"],
    ["a canary interval of 0", { canaryIntervalMs: 0 }, "canaryIntervalMs", "must be an integer from 1 to 86400000, not 0"],
    ["a canary deadline over 10 s", { canaryDeadlineMs: 10_001 }, "canaryDeadlineMs", "must be an integer from 1 to 10000, not 10001"],
    ["a result bound under 1 KiB", { maxResultBytes: 1023 }, "maxResultBytes", "must be an integer from 1024 to 67108864, not 1023"],
    ["a canary without a host", { canaries: [{ host: "", port: 25 }] }, "canaries[0].host", "must not be empty"],
    ["a canary on port 0", { canaries: [{ host: "a.example", port: 25 }, { host: "b.example", port: 0 }] }, "canaries[1].port", "must be from 1 to 65535, not 0"],
    ["an egress address that is a name", { egressAddress: "mx.example.org" }, "egressAddress", 'must be an IPv4 or IPv6 address, not "mx.example.org"'],
    ["an egress zone that is not a name", { egressBlocklistZones: ["bl.example", "not a zone"] }, "egressBlocklistZones[1]", 'must be a DNS zone name, not "not a zone"'],
    ["nine egress zones", { egressBlocklistZones: Array.from({ length: 9 }, (_, i) => `bl${i}.example`) }, "egressBlocklistZones", "must hold at most 8 zones, not 9"],
    ["an egress interval under a second", { egressCheckIntervalMs: 999 }, "egressCheckIntervalMs", "must be an integer from 1000 to 86400000, not 999"],
    ["an EHLO name with spaces", { defaultEhloName: "not a name" }, "defaultEhloName", "must not contain spaces or control characters"],
  ];

  it.each(bad)("refuses %s, naming the field", (_, change, field, problem) => {
    let error: unknown;
    try {
      resolveAgentConfig({ ...BASE, ...change });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidAgentConfigError);
    const e = error as InvalidAgentConfigError;
    expect([e.field, e.problem]).toEqual([field, problem]);
    expect(e.message).toBe(`agent configuration: ${field} ${e.problem}`);
  });
});
