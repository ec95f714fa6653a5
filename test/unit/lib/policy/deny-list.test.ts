// Pure: the deny list's format and matching, and how the target policy applies it (with the
// own-address rule beside it).
import { describe, expect, it } from "vitest";
import { DenyListError, EMPTY_DENY_LIST, MAX_DENY_LIST_BYTES, MAX_DENY_LIST_ENTRIES, parseDenyList } from "../../../../lib/policy/deny-list.js";
import { createOwnAddresses } from "../../../../lib/policy/own-addresses.js";
import { parseAddress } from "../../../../lib/policy/cidr.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import { checkTargetEarly } from "../../../../services/coordinator/validate-request.js";

const LIST = `
# the operator's list
example.com            # and everything under it
Bücher.example.
192.0.2.7
198.51.100.0/24
2001:db8:bad::/48
[2001:db8::25]
`;

describe("parseDenyList", () => {
  const list = parseDenyList(LIST);

  it("reads domains (A-label, lower case, no final dot) and ranges, skipping comments", () => {
    expect(list.domains).toEqual(["example.com", "xn--bcher-kva.example"]);
    expect(list.cidrs.map((c) => c.text)).toEqual(["192.0.2.7", "198.51.100.0/24", "2001:db8:bad::/48", "2001:db8::25"]);
  });

  it.each([
    ["example.com", "example.com"],
    ["EXAMPLE.com.", "example.com"],
    ["mx.example.com", "example.com"],
    ["a.b.mx.example.com", "example.com"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["mail.xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["notexample.com", undefined],
    ["example.com.evil.test", undefined],
    ["com", undefined],
    ["example", undefined],
  ])("matchName(%j) → %j", (name, entry) => {
    expect(list.matchName(name)).toBe(entry);
  });

  it.each([
    ["192.0.2.7", "192.0.2.7"],
    ["192.0.2.8", undefined],
    ["198.51.100.0", "198.51.100.0/24"],
    ["198.51.100.255", "198.51.100.0/24"],
    ["198.51.101.1", undefined],
    ["2001:db8:bad:ffff::1", "2001:db8:bad::/48"],
    ["2001:db8:bae::1", undefined],
    ["2001:db8::25", "2001:db8::25"],
    ["2001:db8::26", undefined],
  ])("matchAddress(%s) → %j", (address, entry) => {
    expect(list.matchAddress(parseAddress(address)!)).toBe(entry);
  });

  it("accepts an empty file and CRLF line ends", () => {
    expect(parseDenyList("").domains).toEqual([]);
    expect(parseDenyList("# nothing\r\nexample.org\r\n").domains).toEqual(["example.org"]);
    expect(EMPTY_DENY_LIST.matchName("example.com")).toBeUndefined();
  });

  it.each([
    ["example.com\n10.1.2.3/8", 'line 2: "10.1.2.3/8" is not a CIDR range: host bits are set; the network is 10.0.0.0/8'],
    ["*.example.com", "line 1: \"*.example.com\": write example.com; a domain entry already covers every name under it"],
    ["127.1", 'line 1: "127.1" is a non-canonical IPv4 form (shorthand)'],
    ["example.com other.com", "line 1: \"example.com other.com\": one entry a line"],
    ["under_score.test", 'line 1: "under_score.test" is not a valid host name'],
    ["fe80::1%eth0", "line 1: \"fe80::1%eth0\" is not a CIDR range: a zone id has no place in a range"],
    ["example.com:25", 'line 1: "example.com:25" is not a host name or IP address'],
  ])("refuses %j: %s", (text, message) => {
    expect(() => parseDenyList(text)).toThrow(DenyListError);
    expect(() => parseDenyList(text)).toThrow(message);
  });

  it("is bounded in entries and bytes", () => {
    const many = Array.from({ length: MAX_DENY_LIST_ENTRIES + 1 }, (_, i) => `d${i}.test`).join("\n");
    expect(() => parseDenyList(many)).toThrow(`line ${MAX_DENY_LIST_ENTRIES + 1}: more than ${MAX_DENY_LIST_ENTRIES} entries`);
    // A comment only, so that the size alone decides: MAX_DENY_LIST_BYTES is read, one byte more is not.
    const comment = (bytes: number): string => `# ${"x".repeat(bytes - 2)}`;
    expect(parseDenyList(comment(MAX_DENY_LIST_BYTES)).domains).toEqual([]);
    const tooLarge = comment(MAX_DENY_LIST_BYTES + 1);
    expect(Buffer.byteLength(tooLarge, "utf8")).toBe(MAX_DENY_LIST_BYTES + 1);
    expect(() => parseDenyList(tooLarge)).toThrow(new DenyListError(0, `is larger than ${MAX_DENY_LIST_BYTES} bytes`));
    expect(() => parseDenyList(tooLarge)).toThrow(/^is larger than 4194304 bytes$/);
  });
});

describe("the target policy with a deny list", () => {
  let current = parseDenyList(LIST);
  const policy = createTargetPolicy({ allowCidrs: ["192.0.2.0/24", "198.51.100.0/24"], denyList: () => current });

  it("denies what the list holds, before the allowlist (deny wins)", () => {
    expect(policy("192.0.2.7", 25)).toEqual({ kind: "deny_list", reason: "192.0.2.7 is on the operator's deny list (192.0.2.7)" });
    expect(policy("198.51.100.9", 25)).toEqual({ kind: "deny_list", reason: "198.51.100.9 is on the operator's deny list (198.51.100.0/24)" });
    expect(policy("192.0.2.8", 25)).toBeUndefined();
    expect(policy("45.67.89.10", 25)).toBeUndefined();
  });

  it("judges IPv6 forms by the IPv4 address they carry", () => {
    expect(policy("::ffff:192.0.2.7", 25)).toEqual({
      kind: "deny_list",
      reason: "::ffff:192.0.2.7 is on the operator's deny list (it carries 192.0.2.7, in 192.0.2.7)",
    });
    expect(policy("64:ff9b::c000:207", 25)).toMatchObject({ kind: "deny_list", reason: expect.stringContaining("is on the operator's deny list") });
    expect(policy("2002:c000:207::1", 25)).toMatchObject({ kind: "deny_list", reason: expect.stringContaining("is on the operator's deny list") });
  });

  it("judges names: the name and every parent domain", () => {
    expect(policy.checkName("mx.example.com")).toEqual({ kind: "deny_list", reason: "mx.example.com is on the operator's deny list (example.com)" });
    expect(policy.checkName("example.net")).toBeUndefined();
  });

  it("follows the list as it is replaced", () => {
    current = parseDenyList("example.net\n");
    expect(policy.checkName("example.net")).toMatchObject({ kind: "deny_list", reason: expect.stringContaining("is on the operator's deny list") });
    expect(policy("192.0.2.7", 25)).toBeUndefined();
    current = parseDenyList(LIST);
  });

  it("is applied early by the coordinator: the host field, kind deny_list (any other denial has its own kind)", () => {
    expect(checkTargetEarly({ host: "mx.example.com.", isIpLiteral: false, ports: [25] }, policy)).toEqual({
      field: "host",
      reason: "mx.example.com. is on the operator's deny list (example.com)",
      kind: "deny_list",
    });
    expect(checkTargetEarly({ host: "192.0.2.7", isIpLiteral: true, ports: [25] }, policy)).toMatchObject({ field: "host", kind: "deny_list" });
    expect(checkTargetEarly({ host: "127.0.0.1", isIpLiteral: true, ports: [25] }, policy)).toMatchObject({ field: "host", kind: "range" });
    expect(checkTargetEarly({ host: "mx.example.org", isIpLiteral: false, ports: [25] }, policy)).toBeUndefined();
  });
});

describe("the own-address rule", () => {
  const own = ["127.0.0.1", "::1", "198.18.7.2", "2001:db8:1::7", "fe80::1"];
  const policy = (allowCidrs: string[]) => createTargetPolicy({ allowCidrs, ownAddresses: () => own });

  it("denies an own non-loopback address although an allowlisted range holds it", () => {
    expect(policy(["198.18.0.0/15"])("198.18.7.2", 25)).toEqual({
      kind: "own_address",
      reason: "198.18.7.2 is an address of this agent's own interfaces (198.18.7.2); only --allow-cidr 198.18.7.2/32 allows it",
    });
    expect(policy(["198.18.0.0/15"])("198.18.7.3", 25)).toBeUndefined();
    expect(policy(["2001:db8::/32"])("2001:DB8:1:0::7", 25)?.reason).toContain("own interfaces (2001:db8:1::7); only --allow-cidr 2001:db8:1::7/128");
    expect(policy(["fe80::/10"])("fe80::1", 25)).toMatchObject({ kind: "own_address", reason: expect.stringContaining("own interfaces") });
  });

  it("also in an IPv4-mapped or NAT64 spelling", () => {
    expect(policy(["198.18.0.0/15"])("::ffff:198.18.7.2", 25)?.reason).toContain("own interfaces (198.18.7.2)");
    expect(policy(["198.18.0.0/15"])("64:ff9b::c612:702", 25)).toMatchObject({ kind: "own_address", reason: expect.stringContaining("own interfaces (198.18.7.2)") });
  });

  it("allows it when the allowlist names exactly that address", () => {
    expect(policy(["198.18.7.2/32"])("198.18.7.2", 25)).toBeUndefined();
    expect(policy(["198.18.7.2"])("198.18.7.2", 25)).toBeUndefined();
    expect(policy(["2001:db8:1::7/128"])("2001:db8:1::7", 25)).toBeUndefined();
  });

  it("leaves loopback to the table: denied unless allowlisted", () => {
    expect(policy([])("127.0.0.1", 25)).toMatchObject({ kind: "range", reason: expect.stringContaining("a loopback address") });
    expect(policy(["127.0.0.0/8"])("127.0.0.1", 25)).toBeUndefined();
    expect(policy(["::1"])("::1", 25)).toBeUndefined();
  });

  it("sees new interfaces once the cache expires, and not before", () => {
    let now = 0;
    let interfaces: Record<string, { address: string }[]> = { lo: [{ address: "127.0.0.1" }] };
    const provider = createOwnAddresses({ ttlMs: 1000, now: () => now, read: () => interfaces as never });
    const p = createTargetPolicy({ allowCidrs: ["198.18.0.0/15"], ownAddresses: provider });
    expect(p("198.18.9.9", 25)).toBeUndefined();
    interfaces = { ...interfaces, eth9: [{ address: "198.18.9.9" }] };
    now = 500;
    expect(p("198.18.9.9", 25)).toBeUndefined();
    now = 1001;
    expect(p("198.18.9.9", 25)).toMatchObject({ kind: "own_address", reason: expect.stringContaining("own interfaces") });
    const first = provider();
    now = 2002;
    expect(provider()).toBe(first); // unchanged set: the same array, the policy does not re-parse
  });
});
