import { describe, expect, it } from "vitest";
import { normalizeDnsName, reverseName } from "../../../../agents/dns/dns-name.js";

describe("normalizeDnsName", () => {
  it.each([
    ["Example.COM.", "example.com"],
    ["_dmarc.example.com", "_dmarc.example.com"],
    ["bücher.example", "xn--bcher-kva.example"],
    ["", undefined],
    ["a..b", undefined],
    [`${"a".repeat(64)}.example`, undefined],
    [`${"a.".repeat(127)}com`, undefined],
    ["with space.example", undefined],
  ])("%s → %s", (name, expected) => {
    expect(normalizeDnsName(name)).toBe(expected);
  });
});

describe("reverseName", () => {
  it.each([
    ["192.0.2.1", "1.2.0.192.in-addr.arpa"],
    ["2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"],
    ["not an address", undefined],
    ["1.2.3", undefined],
  ])("%s → %s", (address, expected) => {
    expect(reverseName(address)).toBe(expected);
  });

  it("names a blocklist query (RFC 5782 §2.1, §2.4)", () => {
    expect(reverseName("192.0.2.99", "bl.example")).toBe("99.2.0.192.bl.example");
  });
});
