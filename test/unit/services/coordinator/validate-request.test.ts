import { describe, expect, it } from "vitest";
import { AddressFamily, PortRole, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import { MAXIMUMS } from "../../../../agents/smtp/options.js";
import {
  checkTargetEarly,
  validateProbeRequest,
  type FieldViolation,
  type NormalizedRequest,
  type RequestLimits,
} from "../../../../services/coordinator/validate-request.js";

type RequestInput = Parameters<typeof ProbeRequest.fromPartial>[0];

function accept(partial: RequestInput, limits?: RequestLimits): NormalizedRequest {
  const result = validateProbeRequest(ProbeRequest.fromPartial(partial), limits);
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.violations)}`);
  return result.value;
}

function refuse(partial: RequestInput, limits?: RequestLimits): FieldViolation[] {
  const result = validateProbeRequest(ProbeRequest.fromPartial(partial), limits);
  if (result.ok) throw new Error("accepted");
  return result.violations;
}

describe("validateProbeRequest accepts", () => {
  it("a bare host, with port 25 and the defaults filled in", () => {
    const value = accept({ host: "mx.example.com" });
    expect(value).toMatchObject({
      host: "mx.example.com",
      isIpLiteral: false,
      mx: false,
      ports: [25],
      regions: [],
      tlsModes: { 25: TlsMode.TLS_MODE_AUTO },
      deadlineMs: 60_000,
      idempotencyKey: "",
    });
    expect(value.targets).toEqual([
      {
        port: 25,
        tlsMode: TlsMode.TLS_MODE_AUTO,
        portRole: PortRole.PORT_ROLE_MX_RELAY,
        options: expect.objectContaining({ tlsMode: TlsMode.TLS_MODE_AUTO, portRole: PortRole.PORT_ROLE_MX_RELAY }),
      },
    ]);
    expect(value.accepted).toMatchObject({ host: "mx.example.com", ports: [25], tlsModes: { 25: TlsMode.TLS_MODE_AUTO } });
    expect(value.accepted.options?.timeouts?.deadlineMs).toBe(60_000);
  });

  it.each([
    ["MX.Example.COM", "mx.example.com", false],
    ["mx.example.com.", "mx.example.com.", false],
    ["bücher.de", "xn--bcher-kva.de", false],
    ["192.0.2.1", "192.0.2.1", true],
    ["[192.0.2.1]", "192.0.2.1", true],
    ["2001:DB8::1", "2001:db8::1", true],
    ["[2001:db8::1]", "2001:db8::1", true],
  ])("host %j as %j", (host, normalized, isIpLiteral) => {
    expect(accept({ host })).toMatchObject({ host: normalized, isIpLiteral });
  });

  it("an MX domain", () => {
    expect(accept({ host: "example.com", mx: true })).toMatchObject({ host: "example.com", mx: true });
  });

  it("per-port TLS modes: tls_modes[port], else options.tls_mode, else the port's default", () => {
    const value = accept({ host: "mx.example.com", ports: [25, 465, 587, 2525], tlsModes: { 587: TlsMode.TLS_MODE_REQUIRE } });
    expect(value.tlsModes).toEqual({
      25: TlsMode.TLS_MODE_AUTO,
      465: TlsMode.TLS_MODE_IMPLICIT,
      587: TlsMode.TLS_MODE_REQUIRE,
      2525: TlsMode.TLS_MODE_AUTO,
    });
    expect(value.targets.map((t) => [t.port, t.tlsMode, t.options.tlsMode])).toEqual([
      [25, TlsMode.TLS_MODE_AUTO, TlsMode.TLS_MODE_AUTO],
      [465, TlsMode.TLS_MODE_IMPLICIT, TlsMode.TLS_MODE_IMPLICIT],
      [587, TlsMode.TLS_MODE_REQUIRE, TlsMode.TLS_MODE_REQUIRE],
      [2525, TlsMode.TLS_MODE_AUTO, TlsMode.TLS_MODE_AUTO],
    ]);

    const none = accept({ host: "mx.example.com", ports: [25, 465], options: { tlsMode: TlsMode.TLS_MODE_NONE }, tlsModes: { 465: TlsMode.TLS_MODE_IMPLICIT } });
    expect(none.tlsModes).toEqual({ 25: TlsMode.TLS_MODE_NONE, 465: TlsMode.TLS_MODE_IMPLICIT });
  });

  it("per-port roles: port_roles[port], else options.port_role, else the port's default; the echo spells every port's out", () => {
    const { MX_RELAY, SUBMISSION, IMPLICIT } = {
      MX_RELAY: PortRole.PORT_ROLE_MX_RELAY,
      SUBMISSION: PortRole.PORT_ROLE_SUBMISSION,
      IMPLICIT: PortRole.PORT_ROLE_IMPLICIT_TLS_SUBMISSION,
    };
    const defaults = accept({ host: "mx.example.com", ports: [25, 465, 587, 2525, 10025] });
    expect(defaults.portRoles).toEqual({ 25: MX_RELAY, 465: IMPLICIT, 587: SUBMISSION, 2525: SUBMISSION, 10025: SUBMISSION });
    expect(defaults.accepted.portRoles).toEqual(defaults.portRoles);
    expect(defaults.targets.map((t) => [t.port, t.portRole, t.options.portRole])).toEqual([
      [25, MX_RELAY, MX_RELAY],
      [465, IMPLICIT, IMPLICIT],
      [587, SUBMISSION, SUBMISSION],
      [2525, SUBMISSION, SUBMISSION],
      [10025, SUBMISSION, SUBMISSION],
    ]);

    const relayOn2525 = accept({ host: "mx.example.com", ports: [25, 2525], portRoles: { 2525: MX_RELAY } });
    expect(relayOn2525.accepted.portRoles).toEqual({ 25: MX_RELAY, 2525: MX_RELAY });
    expect(relayOn2525.targets[1]?.options.portRole).toBe(MX_RELAY);

    const allRelays = accept({ host: "mx.example.com", ports: [25, 587, 2526], options: { portRole: MX_RELAY }, portRoles: { 587: SUBMISSION } });
    expect(allRelays.portRoles).toEqual({ 25: MX_RELAY, 587: SUBMISSION, 2526: MX_RELAY });
    // The role is decided apart from the TLS mode: a relay on 465 is still probed with implicit TLS.
    expect(accept({ host: "mx.example.com", ports: [465], portRoles: { 465: MX_RELAY } }).targets[0]).toMatchObject({ tlsMode: TlsMode.TLS_MODE_IMPLICIT, portRole: MX_RELAY });
  });

  it("eight ports, 32 regions, a 128-character key, timeouts at the engine's maximum", () => {
    const value = accept({
      host: "mx.example.com",
      ports: [25, 465, 587, 2525, 1, 2, 3, 65535],
      regions: Array.from({ length: 32 }, (_, i) => `region-${i}`),
      idempotencyKey: "k".repeat(128),
      options: { timeouts: { connectMs: 300_000, deadlineMs: 300_000 } },
    });
    expect(value.ports).toHaveLength(8);
    expect(value.regions).toHaveLength(32);
    expect(value.deadlineMs).toBe(300_000);
  });

  it("options it passes on, with an IDN SNI in its A-label form", () => {
    const value = accept({ host: "mx.example.com", options: { ehloName: "probe.example.net", sni: "bücher.de" } });
    expect(value.options).toMatchObject({ ehloName: "probe.example.net", sni: "xn--bcher-kva.de" });
  });

  it("known regions when a list is configured", () => {
    expect(accept({ host: "mx.example.com", regions: ["eu-west"] }, { knownRegions: ["eu-west", "us-east"] }).regions).toEqual(["eu-west"]);
  });

  it("a deadline at the shortest a probe runs with", () => {
    expect(accept({ host: "mx.example.com", options: { timeouts: { deadlineMs: 100 } } }).deadlineMs).toBe(100);
  });

  it("the coordinator's deadline bound: a default above it is lowered to it", () => {
    expect(accept({ host: "mx.example.com" }, { maxDeadlineMs: 20_000 }).deadlineMs).toBe(20_000);
    expect(accept({ host: "mx.example.com" }, { maxDeadlineMs: 20_000 }).targets[0]?.options.timeouts?.deadlineMs).toBe(20_000);
  });
});

describe("validateProbeRequest refuses, naming the field", () => {
  const long = (n: number): string => `${"abcdefghi.".repeat(Math.ceil(n / 10))}`.slice(0, n - 4) + ".com";
  it.each<[string, RequestInput, string, string, RequestLimits?]>([
    ["no host", {}, "host", "is required"],
    ["a host with a space", { host: "exa mple.com" }, "host", "is not a host name or IP address"],
    ["a host with CR LF", { host: "mx.example.com\r\nQUIT" }, "host", '"mx.example.com\\r\\nQUIT" is not a host name'],
    ["a host with a port", { host: "mx.example.com:25" }, "host", "is not a host name or IP address"],
    ["a URL", { host: "smtp://mx.example.com" }, "host", "is not a host name or IP address"],
    ["a host of 254 characters", { host: long(254) }, "host", "is longer than 253 characters"],
    ["a host of 10,000 characters", { host: "a".repeat(10_000) }, "host", "is longer than 253 characters"],
    ["a label of 64 characters", { host: `${"a".repeat(64)}.com` }, "host", "is not a valid host name"],
    ["an underscore", { host: "under_score.example" }, "host", "is not a valid host name"],
    ["a bad IPv4 address", { host: "192.0.2.256" }, "host", "is not a valid IP address"],
    ["a short IPv4 address", { host: "127.1" }, "host", "is a non-canonical IPv4 form (shorthand) that inet_aton(3) and URL parsers read as 127.0.0.1"],
    ["a decimal IPv4 address", { host: "2130706433" }, "host", "is a non-canonical IPv4 form (integer)"],
    ["an octal IPv4 address", { host: "0177.0.0.1" }, "host", "is a non-canonical IPv4 form (octal)"],
    ["a hex IPv4 address", { host: "0x7f000001" }, "host", "is a non-canonical IPv4 form (hexadecimal, integer)"],
    ["full-width digits", { host: "１２７.０.０.１" }, "host", "is a numeric look-alike of the address 127.0.0.1"],
    ["an IPv6 zone id", { host: "fe80::1%eth0" }, "host", "has an IPv6 zone id"],
    ["a bracketed name", { host: "[mx.example.com]" }, "host", "is not an IP address in brackets"],
    ["an invalid punycode label", { host: "xn--a.com" }, "host", "is not a host name or IP address"],
    ["mx with an IP literal", { host: "192.0.2.1", mx: true }, "mx", "needs a mail domain, and 192.0.2.1 is an IP address"],
    ["nine ports", { host: "mx.example.com", ports: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, "ports", "at most 8 ports in one probe, got 9"],
    ["three ports over a limit of two", { host: "mx.example.com", ports: [25, 465, 587] }, "ports", "at most 2 ports", { maxPorts: 2 }],
    ["port 0", { host: "mx.example.com", ports: [25, 0] }, "ports[1]", "0 is not a port (1-65535)"],
    ["port 65536", { host: "mx.example.com", ports: [25, 587, 65536] }, "ports[2]", "65536 is not a port (1-65535)"],
    ["a duplicate port", { host: "mx.example.com", ports: [25, 587, 25] }, "ports[2]", "25 is given twice (ports[0])"],
    ["33 regions", { host: "mx.example.com", regions: Array.from({ length: 33 }, (_, i) => `r${i}`) }, "regions", "at most 32 regions"],
    ["an upper-case region", { host: "mx.example.com", regions: ["EU-West"] }, "regions[0]", "is not a region name"],
    ["a region with a dot", { host: "mx.example.com", regions: ["us-east", "eu.west"] }, "regions[1]", "is not a region name"],
    ["a wildcard region", { host: "mx.example.com", regions: ["*"] }, "regions[0]", "is not a region name"],
    ["a full-wildcard region", { host: "mx.example.com", regions: [">"] }, "regions[0]", "is not a region name"],
    ["an empty region", { host: "mx.example.com", regions: [""] }, "regions[0]", "is not a region name"],
    ["a region starting with a hyphen", { host: "mx.example.com", regions: ["-eu"] }, "regions[0]", "is not a region name"],
    ["a region of 64 characters", { host: "mx.example.com", regions: ["a".repeat(64)] }, "regions[0]", "is not a region name"],
    ["a duplicate region", { host: "mx.example.com", regions: ["eu-west", "us-east", "eu-west"] }, "regions[2]", "is given twice (regions[0])"],
    ["an unknown region", { host: "mx.example.com", regions: ["mars"] }, "regions[0]", '"mars" is not a known region (known: eu-west, us-east)', { knownRegions: new Set(["us-east", "eu-west"]) }],
    ["an EHLO name with CR LF", { host: "mx.example.com", options: { ehloName: "probe\r\nMAIL FROM:<>" } }, "options.ehlo_name", "must not contain CR or LF"],
    ["an EHLO name with a space", { host: "mx.example.com", options: { ehloName: "probe example" } }, "options.ehlo_name", "must not contain spaces"],
    ["an SNI that is an IP", { host: "mx.example.com", options: { sni: "192.0.2.1" } }, "options.sni", "must be a host name, not an IP address"],
    ["a policy domain that is an IP", { host: "mx.example.com", options: { policyDomain: "192.0.2.1" } }, "options.policy_domain", "must be a mail domain, not an IP address"],
    ["a policy domain other than the mx domain", { host: "example.com", mx: true, options: { policyDomain: "example.org" } }, "options.policy_domain", "must be empty or the mail domain itself with mx (example.com)"],
    ["an unknown TLS mode", { host: "mx.example.com", options: { tlsMode: 9 as TlsMode } }, "options.tls_mode", "unknown TLS mode"],
    ["TLS mode UNRECOGNIZED", { host: "mx.example.com", options: { tlsMode: TlsMode.UNRECOGNIZED } }, "options.tls_mode", "unknown TLS mode"],
    ["an unknown address family", { host: "mx.example.com", options: { addressFamily: 7 as AddressFamily } }, "options.address_family", "unknown address family"],
    ["a connect timeout over the engine's maximum", { host: "mx.example.com", options: { timeouts: { connectMs: 300_001 } } }, "options.timeouts.connect_ms", "must be between 1 and 300000"],
    ["a banner timeout over the engine's maximum", { host: "mx.example.com", options: { timeouts: { bannerMs: 1e9 } } }, "options.timeouts.banner_ms", "must be between 1 and 300000"],
    ["a deadline over the coordinator's bound", { host: "mx.example.com", options: { timeouts: { deadlineMs: 30_000 } } }, "options.timeouts.deadline_ms", "must be at most 20000 ms here", { maxDeadlineMs: 20_000 }],
    ["a deadline too short to probe anything", { host: "mx.example.com", options: { timeouts: { deadlineMs: 20 } } }, "options.timeouts.deadline_ms", "must be at least 100 ms (the time a probe needs to be dispatched and answered), got 20"],
    ["a deadline one ms short of the minimum", { host: "mx.example.com", options: { timeouts: { deadlineMs: 99 } } }, "options.timeouts.deadline_ms", "must be at least 100 ms"],
    ["too many exchangers", { host: "example.com", mx: true, options: { maxExchangers: 11 } }, "options.max_exchangers", "must be between 1 and 10"],
    // The engine's MAXIMUMS (agents/smtp/options.ts), one over each.
    ["too many addresses", { host: "mx.example.com", options: { maxAddresses: MAXIMUMS.maxAddresses + 1 } }, "options.max_addresses", "must be between 1 and 8"],
    ["a line limit over the maximum", { host: "mx.example.com", options: { limits: { maxLineOctets: MAXIMUMS.maxLineOctets + 1 } } }, "options.limits.max_line_octets", "must be between 1 and 65536"],
    ["a reply-line limit over the maximum", { host: "mx.example.com", options: { limits: { maxReplyLines: MAXIMUMS.maxReplyLines + 1 } } }, "options.limits.max_reply_lines", "must be between 1 and 1000"],
    ["a transcript limit over the maximum", { host: "mx.example.com", options: { limits: { maxTranscriptBytes: MAXIMUMS.maxTranscriptBytes + 1 } } }, "options.limits.max_transcript_bytes", "must be between 1 and 4194304"],
    ["a line limit below 512", { host: "mx.example.com", options: { limits: { maxLineOctets: 100 } } }, "options.limits.max_line_octets", "must be at least 512"],
    ["a TLS mode for a port not probed", { host: "mx.example.com", ports: [25], tlsModes: { 587: TlsMode.TLS_MODE_REQUIRE } }, "tls_modes[587]", "port 587 is not among the ports of the probe (25)"],
    ["a TLS mode for port 25 when none is given but 25 is the default", { host: "mx.example.com", tlsModes: { 465: TlsMode.TLS_MODE_IMPLICIT } }, "tls_modes[465]", "not among the ports"],
    ["an unknown per-port TLS mode", { host: "mx.example.com", ports: [587], tlsModes: { 587: 12 as TlsMode } }, "tls_modes[587]", "12 is not a TLS mode"],
    ["a port role for a port not probed", { host: "mx.example.com", ports: [25], portRoles: { 2525: PortRole.PORT_ROLE_MX_RELAY } }, "port_roles[2525]", "port 2525 is not among the ports of the probe (25)"],
    ["an unknown per-port role", { host: "mx.example.com", ports: [2525], portRoles: { 2525: 9 as PortRole } }, "port_roles[2525]", "9 is not a port role"],
    ["an unrecognized per-port role", { host: "mx.example.com", ports: [2525], portRoles: { 2525: PortRole.UNRECOGNIZED } }, "port_roles[2525]", "-1 is not a port role"],
    ["an unknown port role in the options", { host: "mx.example.com", options: { portRole: 9 as PortRole } }, "options.port_role", "unknown port role"],
    ["an idempotency key of 129 characters", { host: "mx.example.com", idempotencyKey: "k".repeat(129) }, "idempotency_key", "at most 128 characters, got 129"],
    ["an idempotency key with a newline", { host: "mx.example.com", idempotencyKey: "abc\n" }, "idempotency_key", "must be printable ASCII"],
    ["a non-ASCII idempotency key", { host: "mx.example.com", idempotencyKey: "clé" }, "idempotency_key", "must be printable ASCII"],
  ])("%s → %s", (_what, partial, field, description, limits) => {
    const violations = refuse(partial, limits);
    expect(violations.map((v) => v.field)).toEqual([field]);
    expect(violations[0]?.description).toContain(description);
  });

  it("lists every problem, once per field", () => {
    const violations = refuse({
      host: "",
      ports: [0, 25, 25],
      regions: ["EU"],
      options: { ehloName: "a b", timeouts: { connectMs: 400_000 } },
      tlsModes: { 2525: TlsMode.TLS_MODE_AUTO },
      idempotencyKey: "\x00",
    });
    expect(violations.map((v) => v.field)).toEqual([
      "host",
      "ports[0]",
      "ports[2]",
      "regions[0]",
      "options.ehlo_name",
      "options.timeouts.connect_ms",
      "tls_modes[2525]",
      "idempotency_key",
    ]);
  });

  it("does not judge tls_modes keys against a port list it refused", () => {
    const violations = refuse({ host: "mx.example.com", ports: [1, 2, 3, 4, 5, 6, 7, 8, 9], tlsModes: { 25: TlsMode.TLS_MODE_AUTO } });
    expect(violations.map((v) => v.field)).toEqual(["ports"]);
  });

  it("keeps a hostile value short and escaped in the description", () => {
    const [violation] = refuse({ host: `${"\x1b[31m".repeat(40)}x` });
    expect(violation?.description).not.toContain("\x1b");
    expect(violation?.description.length).toBeLessThan(300);
  });
});

describe("checkTargetEarly", () => {
  const policy = createTargetPolicy();
  const early = (host: string, ports?: number[]): ReturnType<typeof checkTargetEarly> =>
    checkTargetEarly(accept({ host, ports }), policy);

  it.each([
    ["127.0.0.1", "127.0.0.1 is a loopback address (127.0.0.0/8)"],
    ["10.0.0.1", "a private address (10.0.0.0/8)"],
    ["169.254.169.254", "a link-local address (169.254.0.0/16)"],
    ["::ffff:127.0.0.1", "an IPv4-mapped loopback address"],
    ["[::1]", "::1 is a loopback address"],
    ["[::FFFF:7F00:1]", "::ffff:7f00:1 is an IPv4-mapped loopback address"],
    ["192.0.2.1", "a documentation address (192.0.2.0/24)"],
  ])("denies the IP literal %s", (host, reason) => {
    const denial = early(host);
    expect(denial?.field).toBe("host");
    expect(denial?.kind).toBe("range");
    expect(denial?.reason).toContain(reason);
  });

  it("leaves names to the agents, which check the addresses they resolve", () => {
    expect(early("mx.example.com")).toBeUndefined();
    expect(early("mx.example.test")).toBeUndefined();
  });

  it.each(["localhost", "x.localhost", "LOCALHOST.", "printer.local", "mail.corp.internal", "x.onion", "router.home.arpa", "mx.invalid"])(
    "denies the special-use name %s by name, before any DNS query",
    (host) => {
      const denial = early(host);
      expect(denial).toMatchObject({ field: "host", kind: "special_use_name" });
      expect(denial?.reason).toMatch(/special-use name \((RFC \d+|reserved)/);
    },
  );

  it("lets --allow-name lift one special-use name", () => {
    const lab = createTargetPolicy({ allowNames: ["localhost"] });
    expect(checkTargetEarly(accept({ host: "localhost" }), lab)).toBeUndefined();
    expect(checkTargetEarly(accept({ host: "x.localhost" }), lab)?.kind).toBe("special_use_name");
  });

  // Tests name only addresses of the test ranges, which the default policy denies: an address the
  // policy lets through is one of them, allowlisted (validation only, nothing connects to it).
  const lab = createTargetPolicy({ allowCidrs: ["198.18.0.0/15"] });

  it("allows an address no range denies, on allowed ports", () => {
    expect(checkTargetEarly(accept({ host: "198.18.1.2", ports: [25, 465, 587, 2525] }), lab)).toBeUndefined();
    expect(early("2a10:1234::5678")).toBeUndefined();
  });

  it("denies a port outside the policy, for names and addresses alike", () => {
    expect(early("mx.example.com", [25, 80])).toEqual({ field: "ports[1]", reason: "port 80 is not allowed (allowed: 25, 465, 587, 2525)", kind: "port" });
    expect(checkTargetEarly(accept({ host: "198.18.1.2", ports: [8025] }), lab)).toEqual({ field: "ports[0]", reason: "port 8025 is not allowed (allowed: 25, 465, 587, 2525)", kind: "port" });
  });

  it("follows the allowlist", () => {
    expect(early("198.18.1.2")?.kind).toBeDefined(); // denied without it
    expect(checkTargetEarly(accept({ host: "198.18.1.2" }), lab)).toBeUndefined();
    expect(checkTargetEarly(accept({ host: "198.19.255.254" }), lab)).toBeUndefined(); // the whole /15
    expect(checkTargetEarly(accept({ host: "192.0.2.1" }), lab)?.reason).toContain("192.0.2.0/24"); // other ranges still denied
    expect(checkTargetEarly(accept({ host: "127.0.0.1" }), lab)?.reason).toContain("loopback");
  });
});
