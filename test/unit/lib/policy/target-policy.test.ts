// Pure tests: the addresses are strings judged by the policy function; no socket is opened in
// this file. An "allowed" example must be a public address (the test ranges are denied by the
// very policy under test); the ones here are arbitrary, not anybody's known service, and the
// range boundaries (0.255.255.255 inside 0.0.0.0/8, 1.0.0.0 just after it) are what is tested.
import { describe, expect, it } from "vitest";
import {
  createTargetPolicy,
  DEFAULT_ALLOWED_PORTS,
  DENIED_IPV4_RANGES,
  DENIED_IPV6_RANGES,
  IPV4_EMBEDDING_RANGES,
  TARGET_POLICY_RANGES,
} from "../../../../lib/policy/target-policy.js";
import { InvalidCidrError, parseCidr } from "../../../../lib/policy/cidr.js";
import { parseDenyList } from "../../../../lib/policy/deny-list.js";
import type { PolicyDenial, TargetPolicy } from "../../../../lib/policy/policy-types.js";

const policy = createTargetPolicy();

describe("the default target policy, by range", () => {
  // [range, denied example, reason, allowed example just outside the range]
  it.each([
    ["0.0.0.0/8", "0.0.0.0", "0.0.0.0 is an unspecified address (0.0.0.0/8)", "1.2.3.4"],
    ["0.0.0.0/8", "0.255.255.255", "an unspecified address", "1.0.0.0"],
    ["10.0.0.0/8", "10.1.2.3", "10.1.2.3 is a private address (10.0.0.0/8)", "11.0.0.1"],
    ["100.64.0.0/10", "100.64.0.1", "a CGNAT (shared address space) address (100.64.0.0/10)", "100.128.0.1"],
    ["100.64.0.0/10", "100.127.255.254", "CGNAT", "100.63.255.255"],
    ["127.0.0.0/8", "127.0.0.1", "127.0.0.1 is a loopback address (127.0.0.0/8)", "128.0.0.1"],
    ["127.0.0.0/8", "127.255.255.254", "loopback", "126.255.255.255"],
    ["169.254.0.0/16", "169.254.169.254", "169.254.169.254 is a link-local address (169.254.0.0/16)", "169.255.0.1"],
    ["172.16.0.0/12", "172.16.0.1", "a private address (172.16.0.0/12)", "172.15.255.255"],
    ["172.16.0.0/12", "172.31.255.254", "a private address (172.16.0.0/12)", "172.32.0.1"],
    ["192.0.0.0/24", "192.0.0.8", "an IETF protocol assignment address (192.0.0.0/24)", "192.0.1.1"],
    ["192.0.2.0/24", "192.0.2.1", "a documentation address (192.0.2.0/24)", "192.0.3.1"],
    ["192.88.99.0/24", "192.88.99.1", "a 6to4 relay anycast address (192.88.99.0/24)", "192.88.98.1"],
    ["192.168.0.0/16", "192.168.1.1", "a private address (192.168.0.0/16)", "192.169.0.1"],
    ["198.18.0.0/15", "198.19.255.1", "a benchmarking address (198.18.0.0/15)", "198.20.0.1"],
    ["198.51.100.0/24", "198.51.100.7", "a documentation address (198.51.100.0/24)", "198.51.101.7"],
    ["203.0.113.0/24", "203.0.113.9", "a documentation address (203.0.113.0/24)", "203.0.114.9"],
    ["224.0.0.0/4", "224.0.0.251", "a multicast address (224.0.0.0/4)", "223.255.255.255"],
    ["224.0.0.0/4", "239.255.255.250", "multicast", "45.67.89.10"],
    ["240.0.0.0/4", "240.0.0.1", "a reserved address (240.0.0.0/4)", "223.1.1.1"],
    ["255.255.255.255/32", "255.255.255.255", "a broadcast address (255.255.255.255/32)", "1.2.3.4"],
    ["::/128", "::", ":: is an unspecified address (::/128)", "2a10:1234::5678"],
    ["::1/128", "::1", "::1 is a loopback address (::1/128)", "2c0f:abcd::1"],
    ["::1/128", "0:0:0:0:0:0:0:1", "a loopback address (::1/128)", "2a00:1450::1"],
    ["100::/64", "100::1", "a discard-only address (100::/64)", "2400:cb00::1"],
    ["2001::/23", "2001::1", "an IETF protocol assignment address (2001::/23)", "2001:200::1"],
    ["2001:db8::/32", "2001:db8::25", "a documentation address (2001:db8::/32)", "2001:db9::25"],
    ["3fff::/20", "3fff::1", "a documentation address (3fff::/20)", "3ffe:ffff::1"],
    ["fc00::/7", "fd12:3456::1", "a private address (fc00::/7)", "2a01::1"],
    ["fc00::/7", "fc00::1", "private", "2a02::1"],
    ["fe80::/10", "fe80::1", "a link-local address (fe80::/10)", "2a03::1"],
    ["fec0::/10", "fec0::1", "a site-local address (fec0::/10)", "2a04::1"],
    ["ff00::/8", "ff02::1", "a multicast address (ff00::/8)", "2a05::1"],
    ["::/3 (not global unicast)", "1000::1", "a reserved address (::/3)", "2000::1"],
    ["4000::/2 (not global unicast)", "5f00::1", "a reserved address (4000::/2)", "3fff:f000::1"],
    ["8000::/1 (not global unicast)", "8000::1", "a reserved address (8000::/1)", "2c0f::1"],
    ["64:ff9b:1::/48 (local-use NAT64)", "64:ff9b:1::a00:1", "a reserved address (::/3)", "64:ff9b::808:808"],
  ])("%s: denies %s, allows %s", (_range, denied, reason, allowed) => {
    expect(policy(denied, 25)?.reason).toContain(reason);
    expect(policy(denied, 25)?.kind).toBe("range");
    expect(policy(allowed, 25)).toBeUndefined();
  });
});

describe("IPv6 forms that carry an IPv4 address are judged by it", () => {
  it.each([
    ["::ffff:127.0.0.1", "::ffff:127.0.0.1 is an IPv4-mapped loopback address (127.0.0.0/8)"],
    ["::ffff:7f00:1", "::ffff:7f00:1 is an IPv4-mapped loopback address (127.0.0.1, in 127.0.0.0/8)"],
    ["::FFFF:7F00:1", "an IPv4-mapped loopback address (127.0.0.1, in 127.0.0.0/8)"],
    ["0:0:0:0:0:ffff:7f00:1", "an IPv4-mapped loopback address"],
    ["::ffff:10.0.0.1", "::ffff:10.0.0.1 is an IPv4-mapped private address (10.0.0.0/8)"],
    ["::ffff:169.254.169.254", "an IPv4-mapped link-local address (169.254.0.0/16)"],
    ["::ffff:0.0.0.0", "an IPv4-mapped unspecified address (0.0.0.0/8)"],
    ["::ffff:192.0.2.1", "an IPv4-mapped documentation address (192.0.2.0/24)"],
    ["::127.0.0.1", "::127.0.0.1 is an IPv4-compatible loopback address (127.0.0.0/8)"],
    ["::7f00:1", "an IPv4-compatible loopback address (127.0.0.1, in 127.0.0.0/8)"],
    ["::a9fe:a9fe", "an IPv4-compatible link-local address (169.254.169.254, in 169.254.0.0/16)"],
    ["64:ff9b::a00:1", "64:ff9b::a00:1 is a NAT64 private address (10.0.0.1, in 10.0.0.0/8)"],
    ["64:ff9b::127.0.0.1", "a NAT64 loopback address (127.0.0.0/8)"],
    ["64:ff9b::a9fe:a9fe", "a NAT64 link-local address (169.254.169.254, in 169.254.0.0/16)"],
    ["2002:7f00:1::", "a 6to4 loopback address (127.0.0.1, in 127.0.0.0/8)"],
    ["2002:c0a8:101::1", "a 6to4 private address (192.168.1.1, in 192.168.0.0/16)"],
  ])("denies %s", (address, reason) => {
    expect(policy(address, 25)?.reason).toContain(reason);
    expect(policy(address, 25)?.kind).toBe("range");
  });

  it.each(["::ffff:45.67.89.10", "::ffff:2d43:590a", "64:ff9b::45.67.89.10", "64:ff9b::102:304", "2002:2d43:590a::1", "::45.67.89.10"])(
    "allows %s (a public IPv4 address inside)",
    (address) => {
      expect(policy(address, 25)).toBeUndefined();
    },
  );
});

describe("addresses that are no addresses", () => {
  it.each([
    ["fe80::1%eth0", "fe80::1%eth0 has a zone id; scoped addresses are not allowed", "zone_id"],
    ["2a10:1234::1%1", "has a zone id", "zone_id"],
    ["", '"" is not an IP address', "not_an_address"],
    ["mx.example.com", '"mx.example.com" is not an IP address', "not_an_address"],
    ["[2001:db8::1]", "is not an IP address", "not_an_address"],
    ["127.1", "is not an IP address", "not_an_address"],
    ["010.0.0.1", "is not an IP address", "not_an_address"],
  ])("refuses %j", (address, reason, kind) => {
    expect(policy(address, 25)?.reason).toContain(reason);
    expect(policy(address, 25)?.kind).toBe(kind);
  });
});

describe("ports", () => {
  it("allows 25, 465, 587 and 2525 by default", () => {
    expect(DEFAULT_ALLOWED_PORTS).toEqual([25, 465, 587, 2525]);
    for (const port of DEFAULT_ALLOWED_PORTS) expect(policy("45.67.89.10", port)).toBeUndefined();
  });

  it.each([22, 80, 443, 0, 65535, 2526])("denies port %i, naming it and the allowed set", (port) => {
    expect(policy("45.67.89.10", port)).toEqual({ kind: "port", reason: `port ${port} is not allowed (allowed: 25, 465, 587, 2525)` });
  });

  it("takes a configured set", () => {
    const custom = createTargetPolicy({ allowPorts: [25, 1025] });
    expect(custom("45.67.89.10", 1025)).toBeUndefined();
    expect(custom("45.67.89.10", 587)).toEqual({ kind: "port", reason: "port 587 is not allowed (allowed: 25, 1025)" });
  });

  it("names the address before the port when both are denied", () => {
    expect(policy("127.0.0.1", 80)).toMatchObject({ kind: "range", reason: expect.stringContaining("loopback") });
  });

  it.each([[[]], [[0]], [[70000]], [[25.5]]])("refuses the port list %j", (allowPorts) => {
    expect(() => createTargetPolicy({ allowPorts })).toThrow(RangeError);
  });
});

describe("the allowlist", () => {
  it("permits 198.18.1.2 when 198.18.0.0/15 is allowlisted, and nothing else of the table", () => {
    const lab = createTargetPolicy({ allowCidrs: ["198.18.0.0/15"] });
    expect(lab("198.18.1.2", 25)).toBeUndefined();
    expect(lab("198.19.255.254", 587)).toBeUndefined();
    expect(lab("::ffff:198.18.1.2", 25)).toBeUndefined();
    expect(lab("127.0.0.1", 25)?.reason).toContain("loopback");
    expect(lab("10.0.0.1", 25)?.reason).toContain("private");
    expect(policy("198.18.1.2", 25)).toEqual({ kind: "range", reason: "198.18.1.2 is a benchmarking address (198.18.0.0/15)" });
  });

  it("does not widen the ports", () => {
    const lab = createTargetPolicy({ allowCidrs: ["198.18.0.0/15"] });
    expect(lab("198.18.1.2", 80)).toEqual({ kind: "port", reason: "port 80 is not allowed (allowed: 25, 465, 587, 2525)" });
  });

  it("permits an IPv4-mapped or NAT64 form when its IPv4 address is allowlisted", () => {
    const lab = createTargetPolicy({ allowCidrs: ["10.0.0.0/8"] });
    expect(lab("::ffff:10.0.0.1", 25)).toBeUndefined();
    expect(lab("64:ff9b::a00:1", 25)).toBeUndefined();
    expect(lab("::ffff:127.0.0.1", 25)?.reason).toContain("loopback");
  });

  it("takes IPv6 ranges and single addresses", () => {
    const lab = createTargetPolicy({ allowCidrs: ["fd00::/8", "::1", "127.0.0.1"] });
    expect(lab("fd00::25", 25)).toBeUndefined();
    expect(lab("fc00::25", 25)?.reason).toContain("private");
    expect(lab("::1", 25)).toBeUndefined();
    expect(lab("127.0.0.1", 25)).toBeUndefined();
    expect(lab("127.0.0.2", 25)?.reason).toContain("loopback");
  });

  it("never lets a zone id through", () => {
    expect(createTargetPolicy({ allowCidrs: ["fe80::/10"] })("fe80::1%eth0", 25)).toMatchObject({ kind: "zone_id", reason: expect.stringContaining("zone id") });
  });

  it("refuses a bad range at construction", () => {
    expect(() => createTargetPolicy({ allowCidrs: ["10.0.0.0/33"] })).toThrow(InvalidCidrError);
  });
});

describe("the policy as the engine hook", () => {
  it("is a TargetPolicy, and check() is the same function", () => {
    const hook: TargetPolicy = policy;
    expect(hook("127.0.0.1", 25)).toEqual(policy.check("127.0.0.1", 25));
    expect(policy.checkAddress("45.67.89.10")).toBeUndefined();
    expect(policy.checkPort(80)).toMatchObject({ kind: "port", reason: expect.stringContaining("port 80") });
  });
});

describe("every kind of denial (table)", () => {
  // One policy where every rule can fire: a lab range allowlisted, a deny list, an own address.
  const full = createTargetPolicy({
    allowCidrs: ["198.18.0.0/15"],
    denyList: () => parseDenyList("blocked.example\n198.18.5.0/24\n"),
    ownAddresses: () => ["198.18.7.2"],
  });
  it.each<[string, PolicyDenial | undefined, () => PolicyDenial | undefined]>([
    ["a text that is no address", { kind: "not_an_address", reason: '"127.1" is not an IP address' }, () => full("127.1", 25)],
    ["a zone id", { kind: "zone_id", reason: "fe80::1%eth0 has a zone id; scoped addresses are not allowed" }, () => full("fe80::1%eth0", 25)],
    ["an address on the deny list", { kind: "deny_list", reason: "198.18.5.9 is on the operator's deny list (198.18.5.0/24)" }, () => full("198.18.5.9", 25)],
    [
      "the IPv4 address an IPv6 form carries, on the deny list",
      { kind: "deny_list", reason: "::ffff:c612:509 is on the operator's deny list (it carries 198.18.5.9, in 198.18.5.0/24)" },
      () => full("::ffff:c612:509", 25),
    ],
    ["a name on the deny list", { kind: "deny_list", reason: "mx.blocked.example is on the operator's deny list (blocked.example)" }, () => full.checkName("mx.blocked.example")],
    [
      "an own address",
      { kind: "own_address", reason: "198.18.7.2 is an address of this agent's own interfaces (198.18.7.2); only --allow-cidr 198.18.7.2/32 allows it" },
      () => full("198.18.7.2", 25),
    ],
    ["a range of the table", { kind: "range", reason: "10.0.0.1 is a private address (10.0.0.0/8)" }, () => full("10.0.0.1", 25)],
    [
      "a range of the table, in an IPv6 form",
      { kind: "range", reason: "64:ff9b::a00:1 is a NAT64 private address (10.0.0.1, in 10.0.0.0/8)" },
      () => full("64:ff9b::a00:1", 25),
    ],
    ["a port", { kind: "port", reason: "port 80 is not allowed (allowed: 25, 465, 587, 2525)" }, () => full("198.18.1.2", 80)],
    ["a port, asked alone", { kind: "port", reason: "port 80 is not allowed (allowed: 25, 465, 587, 2525)" }, () => full.checkPort(80)],
    ["nothing: an allowlisted address on an allowed port", undefined, () => full("198.18.1.2", 25)],
    ["nothing: a name off the deny list", undefined, () => full.checkName("mx.example.org")],
  ])("%s", (_case, expected, denial) => {
    expect(denial()).toEqual(expected);
  });
});

describe("the range table", () => {
  it("lists every range once, each a valid CIDR", () => {
    const cidrs = TARGET_POLICY_RANGES.map((r) => r.cidr);
    expect(new Set(cidrs).size).toBe(cidrs.length);
    expect(cidrs).toHaveLength(DENIED_IPV4_RANGES.length + DENIED_IPV6_RANGES.length + IPV4_EMBEDDING_RANGES.length);
    for (const cidr of cidrs) expect(() => parseCidr(cidr)).not.toThrow();
  });
});
