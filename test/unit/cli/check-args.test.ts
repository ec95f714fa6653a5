import { describe, expect, it } from "vitest";
import { AddressFamily, PortRole, TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";
import { MAXIMUMS } from "../../../agents/smtp/options.js";
import {
  parseCheckArgs,
  parseDnsServer,
  parseLimitFlags,
  parseHost,
  splitHostPort,
  parsePortRoles,
  parsePorts,
  parseTimeout,
  parseTlsMode,
  type CheckFlags,
} from "../../../cli/check-args.js";
import { UsageError } from "../../../cli/usage-error.js";

/** The UsageError a call throws, as "flag: problem", or "ok". */
function usage(call: () => unknown): string {
  try {
    call();
    return "ok";
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
}

describe("parseHost", () => {
  it.each([
    ["mx.example.com", "mx.example.com", false],
    ["MX.Example.COM.", "mx.example.com.", false],
    ["localhost", "localhost", false],
    ["bücher.de", "xn--bcher-kva.de", false],
    ["xn--bcher-kva.de", "xn--bcher-kva.de", false],
    ["192.0.2.1", "192.0.2.1", true],
    ["2001:db8::1", "2001:db8::1", true],
    ["[2001:db8::1]", "2001:db8::1", true],
    ["[192.0.2.1]", "192.0.2.1", true],
  ])("accepts %s as %s", (input, host, isIpLiteral) => {
    expect(parseHost(input)).toEqual({ host, isIpLiteral });
  });

  it.each([
    ["", "host: must not be empty"],
    ["exa mple.com", 'host: "exa mple.com" is not a host name or IP address'],
    ["1.2.3", 'host: "1.2.3" is a non-canonical IPv4 form (shorthand) that inet_aton(3) and URL parsers read as 1.2.0.3; write the address in dotted-decimal form'],
    ["192.0.2.256", 'host: "192.0.2.256" is not a valid IP address'],
    ["0x7f.1", 'host: "0x7f.1" is a non-canonical IPv4 form (hexadecimal, shorthand) that inet_aton(3) and URL parsers read as 127.0.0.1; write the address in dotted-decimal form'],
    ["[mx.example.com]", 'host: "[mx.example.com]" is not an IP address in brackets'],
    ["[2001:db8::1", 'host: "[2001:db8::1" is not an IP address in brackets'],
    ["a..b", 'host: "a..b" is not a valid host name'],
    ["-mx.example.com", 'host: "-mx.example.com" is not a valid host name'],
    ["under_score.example", 'host: "under_score.example" is not a valid host name'],
    ["mx.example.com:25", 'host: "mx.example.com:25" is not a host name or IP address'],
    ["user@example.com", 'host: "user@example.com" is not a host name or IP address'],
    ["mx\r\n.example.com", 'host: "mx\\x0d\\x0a.example.com" is not a host name or IP address'],
    [`${"a".repeat(64)}.com`, "is not a valid host name"],
    [`${"abcdefghi.".repeat(26)}com`, "is longer than 253 characters"],
  ])("refuses %j", (input, message) => {
    expect(usage(() => parseHost(input))).toContain(message);
  });
});

describe("parsePorts", () => {
  it.each([
    [[], [25]],
    [["587"], [587]],
    [["25,587"], [25, 587]],
    [["25", "465,587"], [25, 465, 587]],
    [["25, 587"], [25, 587]],
    [["587,25,587"], [587, 25]],
    [["1", "65535"], [1, 65535]],
  ])("%j → %j", (values, ports) => {
    expect(parsePorts(values)).toEqual(ports);
  });

  it.each([
    [["70000"], '--port: "70000" is not a port (1-65535)'],
    [["0"], '--port: "0" is not a port (1-65535)'],
    [["-1"], '--port: "-1" is not a port (1-65535)'],
    [["smtp"], '--port: "smtp" is not a port (1-65535)'],
    [["25.5"], '--port: "25.5" is not a port (1-65535)'],
    [["25,"], '--port: "25," has an empty item; write e.g. 25,587'],
    [[""], '--port: "" has an empty item'],
    [[Array.from({ length: 17 }, (_, i) => i + 1).join(",")], "--port: at most 16 ports in one check, got 17"],
  ])("%j is refused", (values, message) => {
    expect(usage(() => parsePorts(values))).toContain(message);
  });
});

describe("parseTimeout", () => {
  it.each([
    ["10", 10_000],
    ["2.5", 2500],
    ["2.5s", 2500],
    ["500ms", 500],
    ["500MS", 500],
    [".5", 500],
    ["1m", 60_000],
    ["300", 300_000],
    ["1ms", 1],
  ])("%s → %d ms", (value, ms) => {
    expect(parseTimeout(value)).toBe(ms);
  });

  it.each([
    ["abc", '--timeout: "abc" is not a duration (e.g. 10, 2.5s, 500ms)'],
    ["-1", '--timeout: "-1" is not a duration'],
    ["10h", '--timeout: "10h" is not a duration'],
    ["", '--timeout: "" is not a duration'],
    ["0", '--timeout: "0" must be at least 1 ms'],
    ["0.0001", '--timeout: "0.0001" must be at least 1 ms'],
    ["301", '--timeout: "301" is more than the maximum of 300 s'],
    ["10m", '--timeout: "10m" is more than the maximum of 300 s'],
  ])("%j is refused", (value, message) => {
    expect(usage(() => parseTimeout(value))).toContain(message);
  });
});

describe("parseLimitFlags (--max-exchangers, --max-addresses)", () => {
  it.each<[CheckFlags, { maxExchangers: number; maxAddresses: number }]>([
    [{}, { maxExchangers: 0, maxAddresses: 0 }],
    [{ maxExchangers: "5" }, { maxExchangers: 5, maxAddresses: 0 }],
    [{ maxAddresses: " 4 " }, { maxExchangers: 0, maxAddresses: 4 }],
    [{ maxExchangers: String(MAXIMUMS.maxExchangers), maxAddresses: String(MAXIMUMS.maxAddresses) }, { maxExchangers: 10, maxAddresses: 8 }],
  ])("%j → %j (0: the engine's default)", (flags, limits) => {
    expect(parseLimitFlags(flags)).toEqual(limits);
  });

  it.each<[CheckFlags, string]>([
    [{ maxExchangers: "0" }, '--max-exchangers: "0" is not a whole number from 1 to 10'],
    [{ maxExchangers: "11" }, '--max-exchangers: "11" is not a whole number from 1 to 10'],
    [{ maxExchangers: "2.5" }, '--max-exchangers: "2.5" is not a whole number from 1 to 10'],
    [{ maxAddresses: "9" }, '--max-addresses: "9" is not a whole number from 1 to 8'],
    [{ maxAddresses: "-1" }, '--max-addresses: "-1" is not a whole number from 1 to 8'],
    [{ maxAddresses: "many" }, '--max-addresses: "many" is not a whole number from 1 to 8'],
  ])("%j is refused, naming the flag", (flags, message) => {
    expect(usage(() => parseLimitFlags(flags))).toBe(message);
  });

  it("reach the engine's options in local mode", () => {
    const request = parseCheckArgs("example.com", { mx: true, maxExchangers: "5", maxAddresses: "4" }, { ehloName: "probe.test" });
    expect(request.targets[0]?.options).toMatchObject({ maxExchangers: 5, maxAddresses: 4 });
    expect(parseCheckArgs("example.com", {}, { ehloName: "probe.test" }).targets[0]?.options).toMatchObject({ maxExchangers: 3, maxAddresses: 2 });
  });
});

describe("parseDnsServer", () => {
  it.each([
    ["192.0.2.53", "192.0.2.53"],
    ["127.0.0.1:5353", "127.0.0.1:5353"],
    ["2001:db8::53", "2001:db8::53"],
    ["[2001:db8::53]", "2001:db8::53"],
    ["[2001:db8::53]:5353", "[2001:db8::53]:5353"],
  ])("%s → %s", (value, server) => {
    expect(parseDnsServer(value)).toBe(server);
  });

  it.each([
    ["dns.example", '--dns-server: "dns.example" is not an IP address (write IP, IP:PORT or [IPv6]:PORT)'],
    ["1.2.3", '--dns-server: "1.2.3" is not an IP address'],
    ["127.0.0.1:0", '--dns-server: "127.0.0.1:0" has a bad port "0" (1-65535)'],
    ["127.0.0.1:99999", '--dns-server: "127.0.0.1:99999" has a bad port'],
    ["127.0.0.1:", '--dns-server: "127.0.0.1:" has a bad port ""'],
    ["[127.0.0.1]:53", '--dns-server: "[127.0.0.1]:53" is not an IPv6 address in brackets'],
    ["[::1]:x", '--dns-server: "[::1]:x" has a bad port "x"'],
  ])("%j is refused", (value, message) => {
    expect(usage(() => parseDnsServer(value))).toContain(message);
  });
});

describe("parseTlsMode", () => {
  it.each([
    ["auto", TlsMode.TLS_MODE_AUTO],
    ["require", TlsMode.TLS_MODE_REQUIRE],
    ["implicit", TlsMode.TLS_MODE_IMPLICIT],
    ["NONE", TlsMode.TLS_MODE_NONE],
  ])("%s", (value, mode) => {
    expect(parseTlsMode(value)).toBe(mode);
  });

  it("names the flag and the choices", () => {
    expect(usage(() => parseTlsMode("starttls"))).toBe('--tls: "starttls" is not a TLS mode (auto, require, implicit, none)');
  });
});

describe("parsePortRoles", () => {
  const { PORT_ROLE_MX_RELAY: RELAY, PORT_ROLE_SUBMISSION: SUBMISSION, PORT_ROLE_IMPLICIT_TLS_SUBMISSION: IMPLICIT } = PortRole;

  it.each<[string, string[], [number, PortRole][]]>([
    ["none", [], []],
    ["one", ["2525=relay"], [[2525, RELAY]]],
    ["a comma list", ["2525=relay,587=submission, 10465 = implicit-submission"], [[2525, RELAY], [587, SUBMISSION], [10465, IMPLICIT]]],
    ["repeated, in any case", ["25=Submission", "2526=RELAY"], [[25, SUBMISSION], [2526, RELAY]]],
    ["the same role twice", ["2525=relay", "2525=relay"], [[2525, RELAY]]],
  ])("%s", (_, values, roles) => {
    expect([...parsePortRoles(values)]).toEqual(roles);
  });

  it.each([
    ["2525", '--port-role: "2525" is not PORT=ROLE (e.g. 2525=relay)'],
    ["relay=2525", '--port-role: "relay=2525" is not PORT=ROLE'],
    ["70000=relay", '--port-role: "70000" is not a port (1-65535)'],
    ["0=relay", '--port-role: "0" is not a port (1-65535)'],
    ["2525=mx", '--port-role: "mx" is not a role (relay, submission, implicit-submission)'],
    ["2525=relay,", '--port-role: "2525=relay," has an empty item; write e.g. 2525=relay,587=submission'],
    ["2525=relay,2525=submission", "--port-role: port 2525 is given two roles"],
  ])("%j is bad usage", (value, message) => {
    expect(usage(() => parsePortRoles([value]))).toContain(message);
  });
});

describe("parseCheckArgs", () => {
  const parse = (host: string, flags: CheckFlags = {}) => parseCheckArgs(host, flags, { ehloName: "probe.test" });

  it("fills the defaults: port 25, TLS auto, both families, the given EHLO name, 60 s deadline", () => {
    const request = parse("mx.example.com");
    expect(request).toMatchObject({ host: "mx.example.com", isIpLiteral: false, mx: false, dnsServers: [], caFile: undefined });
    expect(request).toMatchObject({ transcript: false, json: false, colorAllowed: true });
    expect(request.targets.map((t) => t.port)).toEqual([25]);
    expect(request.targets[0]?.options).toMatchObject({
      tlsMode: TlsMode.TLS_MODE_AUTO,
      ehloName: "probe.test",
      sni: "",
      addressFamily: AddressFamily.ADDRESS_FAMILY_BOTH,
      deadlineMs: 60_000,
    });
  });

  it("gives each port its own default TLS mode (implicit on 465), unless --tls says otherwise", () => {
    const modes = (flags: CheckFlags) => parse("mx.example.com", flags).targets.map((t) => [t.port, t.options.tlsMode]);
    expect(modes({ port: ["25,465,587"] })).toEqual([
      [25, TlsMode.TLS_MODE_AUTO],
      [465, TlsMode.TLS_MODE_IMPLICIT],
      [587, TlsMode.TLS_MODE_AUTO],
    ]);
    expect(modes({ port: ["465"], tls: "require" })).toEqual([[465, TlsMode.TLS_MODE_REQUIRE]]);
  });

  it("gives each port its role: --port-role, else the port's default", () => {
    const roles = (flags: CheckFlags) => parse("mx.example.com", flags).targets.map((t) => [t.port, t.options.portRole]);
    expect(roles({ port: ["25,465,587,2525,10025"] })).toEqual([
      [25, PortRole.PORT_ROLE_MX_RELAY],
      [465, PortRole.PORT_ROLE_IMPLICIT_TLS_SUBMISSION],
      [587, PortRole.PORT_ROLE_SUBMISSION],
      [2525, PortRole.PORT_ROLE_SUBMISSION],
      [10025, PortRole.PORT_ROLE_SUBMISSION],
    ]);
    expect(roles({ port: ["25,2525"], portRole: ["2525=relay", "25=submission"] })).toEqual([
      [25, PortRole.PORT_ROLE_SUBMISSION],
      [2525, PortRole.PORT_ROLE_MX_RELAY],
    ]);
    // The role does not change the TLS mode: a relay on 465 is still probed with implicit TLS.
    expect(parse("mx.example.com", { port: ["465"], portRole: ["465=relay"] }).targets[0]?.options).toMatchObject({
      tlsMode: TlsMode.TLS_MODE_IMPLICIT,
      portRole: PortRole.PORT_ROLE_MX_RELAY,
    });
  });

  it("refuses a role for a port that is not checked", () => {
    expect(usage(() => parse("mx.example.com", { portRole: ["2525=relay"] }))).toBe("--port-role: port 2525 is not among the ports of the check (25); add it with --port");
  });

  it("passes every flag through", () => {
    const request = parse("example.com", {
      port: ["587"],
      mx: true,
      tls: "none",
      ehlo: "client.example.net",
      sni: "mail.example.com",
      ipv6: true,
      timeout: "1500ms",
      dnsServer: ["127.0.0.1:5353", "[::1]:53"],
      caFile: "ca.pem",
      transcript: true,
      json: true,
      color: false,
    });
    expect(request).toMatchObject({
      mx: true,
      dnsServers: ["127.0.0.1:5353", "[::1]:53"],
      caFile: "ca.pem",
      transcript: true,
      json: true,
      colorAllowed: false,
    });
    expect(request.targets[0]?.options).toMatchObject({
      tlsMode: TlsMode.TLS_MODE_NONE,
      ehloName: "client.example.net",
      sni: "mail.example.com",
      addressFamily: AddressFamily.ADDRESS_FAMILY_IPV6,
      deadlineMs: 1500,
    });
  });

  it("--allow-name: repeated or comma lists, lower case, the final dot kept as given", () => {
    expect(parse("localhost").allowNames).toEqual([]);
    expect(parse("localhost", { allowName: ["LocalHost", "printer.local,x.internal."] }).allowNames).toEqual(["localhost", "printer.local", "x.internal."]);
  });

  it("turns an internationalized SNI into its A-label form", () => {
    expect(parse("192.0.2.1", { sni: "bücher.de" }).targets[0]?.options.sni).toBe("xn--bcher-kva.de");
  });

  it.each<[string, CheckFlags, string]>([
    ["192.0.2.1", { mx: true }, '--mx: needs a mail domain, and "192.0.2.1" is an IP address'],
    ["example.com", { ipv4: true, ipv6: true }, "--ipv4/--ipv6: choose one of them"],
    ["example.com", { ehlo: "bad name" }, '--ehlo: "bad name" must not contain spaces or control characters'],
    ["example.com", { ehlo: "evil\r\nMAIL FROM:<x>" }, '--ehlo: "evil\\x0d\\x0aMAIL FROM:<x>" must not contain CR or LF'],
    ["example.com", { ehlo: "" }, '--ehlo: "" must not be empty'],
    ["example.com", { sni: "192.0.2.1" }, '--sni: "192.0.2.1" must be a host name, not an IP address'],
    ["example.com", { sni: "" }, '--sni: "" must not be empty'],
    ["example.com", { sni: "a b" }, '--sni: "a b" must be a DNS host name'],
    ["example.com", { policyDomain: "192.0.2.1" }, '--policy-domain: "192.0.2.1" must be a mail domain, not an IP address'],
    ["example.com", { mx: true, policyDomain: "example.org" }, "--policy-domain: with --mx the policy domain is the domain probed (example.com); leave --policy-domain out"],
    ["example.com", { caFile: " " }, "--ca-file: needs a file path"],
    ["example.com", { dnsServer: Array.from({ length: 9 }, () => "127.0.0.1") }, "--dns-server: at most 8 DNS servers, got 9"],
    ["example.com", { port: ["99999"] }, '--port: "99999" is not a port (1-65535)'],
    ["example.com", { timeout: "soon" }, '--timeout: "soon" is not a duration'],
    ["bad host", {}, 'host: "bad host" is not a host name or IP address'],
    ["localhost", { allowName: ["127.0.0.1"] }, '--allow-name: "127.0.0.1" is an IP address; the local mode probes any address'],
    ["localhost", { allowName: ["bad name"] }, '--allow-name: "bad name" is not a host name or IP address'],
  ])("%s %j → %s", (host, flags, message) => {
    expect(usage(() => parse(host, flags))).toContain(message);
  });
});

describe("a host with a port (the swaks habit)", () => {
  it.each([
    ["127.0.0.1:2525", "did you mean 127.0.0.1 --port 2525?"],
    ["mx.example.com:587", "did you mean mx.example.com --port 587?"],
    ["[2001:db8::1]:25", "did you mean 2001:db8::1 --port 25?"],
  ])("%s: suggests HOST --port PORT", (input, hint) => {
    expect(usage(() => parseHost(input))).toMatch(new RegExp(`^host: ".*" is not .*: ${hint.replace(/[.?[\]]/g, "\\$&")}$`));
  });

  it.each([
    ["a port out of range", "127.0.0.1:70000"],
    ["a host that is no host", "exa mple:25"],
    ["no port at all", "user@example.com"],
  ])("%s: no suggestion", (_, input) => {
    expect(splitHostPort(input)).toBeUndefined();
    expect(usage(() => parseHost(input))).not.toContain("did you mean");
  });
});

describe("--tls-scan and --starttls-enforcement", () => {
  const parse = (flags: CheckFlags = {}) => parseCheckArgs("mx.example.com", { port: ["25,587"], ...flags }, { ehloName: "probe.test" });

  it("are off unless given", () => {
    expect(parse().targets.map((t) => [t.options.tlsScan, t.options.checkStarttlsEnforcement])).toEqual([
      [false, false],
      [false, false],
    ]);
  });

  it("ask every port for the scan and the check", () => {
    expect(parse({ tlsScan: true, starttlsEnforcement: true }).targets.map((t) => [t.options.tlsScan, t.options.checkStarttlsEnforcement])).toEqual([
      [true, true],
      [true, true],
    ]);
  });
});
