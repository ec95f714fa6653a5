// Pure: addresses and ranges as the target policy, the deny list and the destination throttle read
// them. Values are compared as numbers, a representation independent of the library that parses.
import { describe, expect, it } from "vitest";
import {
  cidrContains,
  embeddedIpv4,
  formatAddress,
  InvalidCidrError,
  isIpv6,
  networkOf,
  parseAddress,
  parseCidr,
  type IpAddress,
} from "../../../../lib/policy/cidr.js";

const valueOf = (address: IpAddress): bigint => address.toByteArray().reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);

describe("parseCidr", () => {
  it.each([
    ["10.0.0.0/8", 4, 8],
    [" 192.168.0.0/16 ", 4, 16],
    ["0.0.0.0/0", 4, 0],
    ["203.0.113.7", 4, 32],
    ["2001:db8::/32", 6, 32],
    ["::/0", 6, 0],
    ["::ffff:0:0/96", 6, 96],
    ["fe80::1", 6, 128],
  ])("%j", (text, family, prefix) => {
    expect(parseCidr(text)).toMatchObject({ family, prefix, text: text.trim() });
  });

  it.each([
    ["10.1.2.3/8", '"10.1.2.3/8" is not a CIDR range: host bits are set; the network is 10.0.0.0/8'],
    ["2001:db8::1/32", "host bits are set; the network is 2001:db8::/32"],
    ["fe80::1:2:3:4/64", "host bits are set; the network is fe80::/64"],
    ["10.0.0.0/33", "the prefix length must be a number from 0 to 32"],
    ["::/129", "the prefix length must be a number from 0 to 128"],
    ["10.0.0.0/", "the prefix length must be a number"],
    ["10.0.0.0/-1", "the prefix length must be a number"],
    ["10.0.0.0/8/8", "the prefix length must be a number"],
    ["10.0.0/8", '"10.0.0" is not an IPv4 or IPv6 address'],
    ["example.com/8", "is not an IPv4 or IPv6 address"],
    ["", "is not an IPv4 or IPv6 address"],
    ["fe80::%eth0/64", "a zone id has no place in a range"],
  ])("refuses %j", (text, message) => {
    expect(() => parseCidr(text)).toThrow(InvalidCidrError);
    expect(() => parseCidr(text)).toThrow(message);
  });
});

describe("parseAddress", () => {
  it.each([
    ["0.0.0.0", 0n],
    ["255.255.255.255", 0xffffffffn],
    ["::", 0n],
    ["::1", 1n],
    ["1::", 1n << 112n],
    ["::ffff:127.0.0.1", 0xffff7f000001n],
    ["1:2:3:4:5:6:7:8", 0x00010002000300040005000600070008n],
    ["1:2:3:4:5:6:1.2.3.4", 0x00010002000300040005000601020304n],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", (1n << 128n) - 1n],
    // ipaddr.js alone would read this as ::ffff:1.2.3.4; RFC 4291 §2.5.5.1 says IPv4-compatible.
    ["::1.2.3.4", 0x01020304n],
  ])("%s", (text, value) => {
    expect(valueOf(parseAddress(text)!)).toBe(value);
  });

  // ipaddr.js accepts all of these (as inet_aton does); only canonical text passes.
  it.each(["127.1", "0x7f.0.0.1", "0177.0.0.1", "010.0.0.1", "2130706433", "1.2.3.4.", "127.0.0.1 ", "[::1]", "fe80::1%eth0", "::1%1", "", "example.com"])(
    "refuses %j",
    (text) => {
      expect(parseAddress(text)).toBeUndefined();
    },
  );
});

describe("formatAddress", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["::ffff:127.0.0.1", "::ffff:7f00:1"],
    ["0:0:0:0:0:0:0:0", "::"],
  ])("%s → %s", (text, formatted) => {
    expect(formatAddress(parseAddress(text)!)).toBe(formatted);
  });
});

describe("networkOf, cidrContains", () => {
  it.each([
    ["198.51.100.77", 24, "198.51.100.0"],
    ["198.51.100.77", 0, "0.0.0.0"],
    ["198.51.100.77", 32, "198.51.100.77"],
    ["172.31.255.254", 12, "172.16.0.0"],
    ["2001:db8:abcd:12::1", 48, "2001:db8:abcd::"],
    ["2001:db8:abcd:12::1", 35, "2001:db8:a000::"],
  ])("%s/%i is in %s", (text, prefix, network) => {
    expect(formatAddress(networkOf(parseAddress(text)!, prefix))).toBe(network);
  });

  it.each([
    ["10.0.0.0/8", "10.255.255.255", true],
    ["10.0.0.0/8", "11.0.0.0", false],
    ["0.0.0.0/0", "255.255.255.255", true],
    ["::/0", "ffff::1", true],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::", false],
    // Families never mix: an IPv4-mapped address is not inside an IPv4 range (the policy unwraps it first).
    ["127.0.0.0/8", "::ffff:127.0.0.1", false],
    ["::ffff:0:0/96", "127.0.0.1", false],
  ])("%s holds %s: %s", (cidr, address, holds) => {
    expect(cidrContains(parseCidr(cidr), parseAddress(address)!)).toBe(holds);
  });
});

describe("embeddedIpv4", () => {
  it.each([
    ["::ffff:7f00:1", 96, "127.0.0.1"],
    ["64:ff9b::a9fe:a9fe", 96, "169.254.169.254"],
    ["2002:c0a8:101::1", 16, "192.168.1.1"],
  ])("%s from bit %i: %s", (text, offset, ipv4) => {
    const address = parseAddress(text)!;
    if (!isIpv6(address)) throw new Error(`${text} is not IPv6`);
    expect(embeddedIpv4(address, offset).toString()).toBe(ipv4);
  });
});
