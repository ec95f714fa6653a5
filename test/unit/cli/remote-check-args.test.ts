import { describe, expect, it } from "vitest";
import { AddressFamily, PortRole, TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";
import type { CheckFlags } from "../../../cli/check-args.js";
import { CALL_GRACE_MS, parseRegions, parseRemoteCheckArgs } from "../../../cli/remote-check-args.js";

const viaFlag = { target: "127.0.0.1:50051", source: "--coordinator" };
const viaEnv = { target: "127.0.0.1:50051", source: "SMTP_PROBE_COORDINATOR" };

describe("parseRemoteCheckArgs", () => {
  it("maps the flags onto the ProbeRequest; --timeout is the probe's deadline and, plus a grace, the call's", () => {
    const parsed = parseRemoteCheckArgs(
      "Bücher.example",
      { port: ["25,587", "25"], regions: ["us-east,eu-west", "us-east"], mx: true, tls: "require", ehlo: "probe.example", sni: "mx.example", ipv6: true, timeout: "5s", json: true, transcript: true, color: false },
      viaFlag,
    );
    expect(parsed.request).toMatchObject({
      host: "Bücher.example",
      mx: true,
      ports: [25, 587],
      regions: ["us-east", "eu-west"],
      options: { tlsMode: TlsMode.TLS_MODE_REQUIRE, ehloName: "probe.example", sni: "mx.example", addressFamily: AddressFamily.ADDRESS_FAMILY_IPV6, timeouts: { deadlineMs: 5000 } },
    });
    expect(parsed).toMatchObject({ callTimeoutMs: 5000 + CALL_GRACE_MS, json: true, transcript: true, colorAllowed: false, coordinator: viaFlag });
  });

  it("leaves the defaults to the coordinator and the agent: ports, regions, EHLO name, TLS mode, deadline", () => {
    const parsed = parseRemoteCheckArgs("mx.example.com", {}, viaFlag);
    expect(parsed.request).toMatchObject({
      ports: [],
      regions: [],
      options: { tlsMode: TlsMode.TLS_MODE_UNSPECIFIED, ehloName: "", sni: "", addressFamily: AddressFamily.ADDRESS_FAMILY_UNSPECIFIED, timeouts: { deadlineMs: 0 } },
    });
    expect(parsed.callTimeoutMs).toBe(60_000 + CALL_GRACE_MS);
  });

  it("sends --port-role as port_roles; whether each port is probed is the coordinator's to judge", () => {
    expect(parseRemoteCheckArgs("h.example", { port: ["25,2525"], portRole: ["2525=relay"] }, viaFlag).request.portRoles).toEqual({ 2525: PortRole.PORT_ROLE_MX_RELAY });
    expect(parseRemoteCheckArgs("h.example", { portRole: ["2526=submission"] }, viaFlag).request.portRoles).toEqual({ 2526: PortRole.PORT_ROLE_SUBMISSION });
    expect(parseRemoteCheckArgs("h.example", {}, viaFlag).request.portRoles).toEqual({});
  });

  it("sends --max-exchangers and --max-addresses as options.max_exchangers and options.max_addresses", () => {
    const parsed = parseRemoteCheckArgs("five.test", { mx: true, maxExchangers: "5", maxAddresses: "8" }, viaFlag);
    expect(parsed.request.options).toMatchObject({ maxExchangers: 5, maxAddresses: 8 });
    expect(parseRemoteCheckArgs("five.test", {}, viaFlag).request.options).toMatchObject({ maxExchangers: 0, maxAddresses: 0 });
  });

  it("leaves the port count to the coordinator (its bound is 8; local mode's is 16)", () => {
    expect(parseRemoteCheckArgs("h.example", { port: ["1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"] }, viaFlag).request.ports).toHaveLength(17);
  });

  it.each<[string, CheckFlags, string]>([
    ["--dns-server", { dnsServer: ["192.0.2.53"] }, "--dns-server: only in local mode: the agents resolve with their own DNS servers (the agent's --dns-server); drop it, or drop --coordinator to probe from here"],
    ["--ca-file", { caFile: "ca.pem" }, "--ca-file: only in local mode: the agents check certificate chains against their own CA store"],
    ["--allow-name", { allowName: ["localhost"] }, "--allow-name: only in local mode: the coordinator's and the agents' target policy decides (their --allow-name)"],
    ["--ipv4 with --ipv6", { ipv4: true, ipv6: true }, "--ipv4/--ipv6: choose one of them"],
    ["a port that is no port", { port: ["70000"] }, '--port: "70000" is not a port (1-65535)'],
    ["a TLS mode that is none", { tls: "maybe" }, '--tls: "maybe" is not a TLS mode'],
    ["a port role that is none", { portRole: ["2525=mx"] }, '--port-role: "mx" is not a role'],
    ["a duration that is none", { timeout: "soon" }, '--timeout: "soon" is not a duration'],
    ["an empty EHLO name", { ehlo: "" }, "--ehlo: must not be empty"],
    ["an empty region", { regions: ["a,,b"] }, '--regions: "a,,b" has an empty item'],
    ["more exchangers than the API allows", { maxExchangers: "11" }, '--max-exchangers: "11" is not a whole number from 1 to 10'],
    ["more addresses than the API allows", { maxAddresses: "9" }, '--max-addresses: "9" is not a whole number from 1 to 8'],
  ])("%s is bad usage", (_, flags, message) => {
    expect(() => parseRemoteCheckArgs("mx.example.com", flags, viaFlag)).toThrow(message);
  });

  it("a bad host is bad usage at once, with the shared host syntax", () => {
    expect(() => parseRemoteCheckArgs("bad host", {}, viaFlag)).toThrow('host: "bad host" is not a host name or IP address');
  });

  it("points at --local when the coordinator came from the variable", () => {
    expect(() => parseRemoteCheckArgs("mx.example.com", { caFile: "ca.pem" }, viaEnv)).toThrow(/SMTP_PROBE_COORDINATOR is set; --local probes from here$/);
  });
});

describe("parseRegions", () => {
  it("splits, trims, drops duplicates, keeps the order and leaves the names to the coordinator", () => {
    expect(parseRegions(["us-east, eu-west", "EU-West", "us-east"])).toEqual(["us-east", "eu-west", "EU-West"]);
  });
});

describe("--tls-scan and --starttls-enforcement through a coordinator", () => {
  it("become options.tls_scan and options.check_starttls_enforcement", () => {
    const { request } = parseRemoteCheckArgs("mx.example.com", { tlsScan: true, starttlsEnforcement: true }, viaFlag);
    expect(request.options).toMatchObject({ tlsScan: true, checkStarttlsEnforcement: true });
    expect(parseRemoteCheckArgs("mx.example.com", {}, viaFlag).request.options).toMatchObject({ tlsScan: false, checkStarttlsEnforcement: false });
  });
});
