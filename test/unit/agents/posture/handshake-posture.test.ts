import { describe, expect, it } from "vitest";
import { serverNames } from "../../../../agents/posture/handshake-posture.js";
import { resolveOptions } from "../../../../agents/smtp/options.js";

const reply = (line: string) => ({ code: 220, enhancedCode: "", lines: [line], meaning: "" });
const caps = (greeting: string) => ({ greeting, pipelining: false, eightBitMime: false, starttls: false, authMechanisms: [], smtputf8: false, chunking: false, dsn: false, enhancedStatusCodes: false, requiretls: false, other: [], heloOnly: false });

describe("serverNames", () => {
  it.each([
    [{ banner: reply("mx.example.com ESMTP Postfix"), capabilities: caps("mx.example.com Hello"), capabilitiesTls: undefined }, ["mx.example.com"]],
    [{ banner: reply("MX1.Example.COM. ready"), capabilities: caps("mx2.example.com"), capabilitiesTls: caps("mx3.example.com") }, ["mx1.example.com", "mx2.example.com", "mx3.example.com"]],
    [{ banner: reply("ESMTP ready"), capabilities: undefined, capabilitiesTls: undefined }, []],
    [{ banner: reply("[192.0.2.1] hi"), capabilities: undefined, capabilitiesTls: undefined }, []],
    [{ banner: undefined, capabilities: undefined, capabilitiesTls: undefined }, []],
  ])("%j → %j", (h, names) => {
    expect(serverNames(h)).toEqual(names);
  });
});

describe("the posture option", () => {
  it.each([
    [undefined, undefined],
    [{ blocklistZones: [], skipBlocklists: false }, ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]],
    [{ blocklistZones: [], skipBlocklists: true }, []],
    [{ blocklistZones: ["BL.example.", "bl.example"], skipBlocklists: false }, ["bl.example"]],
  ])("%j → zones %j", (posture, zones) => {
    expect(resolveOptions({ posture } as never, 25, "probe.test").postureBlocklistZones).toEqual(zones);
  });

  it.each([
    [{ blocklistZones: ["bad zone"], skipBlocklists: false }, "posture.blocklist_zones[0]"],
    [{ blocklistZones: ["bl.example"], skipBlocklists: true }, "posture.blocklist_zones"],
    [{ blocklistZones: Array.from({ length: 9 }, (_, i) => `z${i}.example`), skipBlocklists: false }, "posture.blocklist_zones"],
  ])("%j is refused at %s", (posture, field) => {
    expect(() => resolveOptions({ posture } as never, 25, "probe.test")).toThrow(expect.objectContaining({ violations: expect.arrayContaining([expect.objectContaining({ field })]) as unknown }));
  });
});
