// The agent's egress settings (--egress-address, --egress-dnsbl, --egress-check-interval): read from
// flags or variables, each wrong value a ConfigError naming the flag, and mapped to the agent config.
import { describe, expect, it } from "vitest";
import { AGENT_SETTINGS, agentEgressConfig } from "../../../../agents/probe/settings.js";
import { ConfigError, resolveSettings } from "../../../../lib/config.js";

const EGRESS = { egressAddress: AGENT_SETTINGS.egressAddress, egressDnsbl: AGENT_SETTINGS.egressDnsbl, egressCheckInterval: AGENT_SETTINGS.egressCheckInterval };

describe("the agent's egress settings", () => {
  it("default to none: no address, the default zones, every 5 minutes", () => {
    const s = resolveSettings(EGRESS, {}, {});
    expect(agentEgressConfig(s)).toEqual({ egressAddress: undefined, egressBlocklistZones: undefined, egressCheckIntervalMs: 300_000 });
  });

  it("are read from flags and variables, zones normalized", () => {
    const s = resolveSettings(EGRESS, { egressAddress: "2001:db8::25", egressCheckInterval: "90s" }, { SMTP_PROBE_EGRESS_DNSBL: "BL.Example., other.example" });
    expect(agentEgressConfig(s)).toEqual({ egressAddress: "2001:db8::25", egressBlocklistZones: ["bl.example", "other.example"], egressCheckIntervalMs: 90_000 });
  });

  it.each<[Record<string, unknown>, Record<string, string>, RegExp]>([
    [{ egressAddress: "agent.example.net" }, {}, /--egress-address.*must be an IPv4 or IPv6 address/],
    [{}, { SMTP_PROBE_EGRESS_ADDRESS: "198.18.0.999" }, /SMTP_PROBE_EGRESS_ADDRESS.*must be an IPv4 or IPv6 address/],
    [{ egressDnsbl: ["bl.example,not a zone"] }, {}, /--egress-dnsbl.*"not a zone" is not a DNS zone name/],
    [{ egressDnsbl: Array.from({ length: 9 }, (_, i) => `bl${i}.example`) }, {}, /--egress-dnsbl.*at most 8 zones, not 9/],
    [{ egressCheckInterval: "500ms" }, {}, /--egress-check-interval.*between 1s and 24h/],
  ])("%j %j is refused, naming the setting", (flags, env, message) => {
    const attempt = () => resolveSettings(EGRESS, flags, env);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });
});
