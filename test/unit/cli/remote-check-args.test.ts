import { describe, expect, it } from "vitest";
import { AddressFamily, TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";
import type { CheckFlags } from "../../../cli/check-args.js";
import { CALL_GRACE_MS, chooseCheckMode, parseRegions, parseRemoteCheckArgs } from "../../../cli/remote-check-args.js";

const viaFlag = { target: "127.0.0.1:50051", source: "--coordinator" };
const viaEnv = { target: "127.0.0.1:50051", source: "SMTP_PROBE_COORDINATOR" };

describe("chooseCheckMode", () => {
  it.each<[string, CheckFlags, string | undefined, string]>([
    ["nothing: local", {}, undefined, "local"],
    ["--coordinator", { coordinator: "127.0.0.1:1" }, undefined, "remote 127.0.0.1:1 --coordinator"],
    ["the variable", {}, "10.0.0.1", "remote 10.0.0.1:50051 SMTP_PROBE_COORDINATOR"],
    ["--coordinator wins over the variable", { coordinator: "127.0.0.1:2" }, "10.0.0.1", "remote 127.0.0.1:2 --coordinator"],
    ["--local wins over the variable", { local: true }, "10.0.0.1", "local"],
    ["an empty variable is unset", {}, " ", "local"],
  ])("%s", (_, flags, env, expected) => {
    const mode = chooseCheckMode(flags, env);
    expect(mode.kind === "local" ? "local" : `remote ${mode.coordinator.target} ${mode.coordinator.source}`).toBe(expected);
  });

  it.each<[string, CheckFlags, string | undefined, string]>([
    ["--local with --coordinator", { local: true, coordinator: "x" }, undefined, "--local: cannot be combined with --coordinator"],
    ["--regions without a coordinator", { regions: ["us-east"] }, undefined, "--regions: needs --coordinator"],
    ["--regions with --local", { regions: ["us-east"], local: true }, "10.0.0.1", "--regions: needs --coordinator"],
    ["a bad address in the variable", {}, "a b", 'SMTP_PROBE_COORDINATOR: "a b" has a bad host'],
  ])("%s is bad usage", (_, flags, env, message) => {
    expect(() => chooseCheckMode(flags, env)).toThrow(message);
  });
});

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
    ["--ipv4 with --ipv6", { ipv4: true, ipv6: true }, "--ipv4/--ipv6: choose one of them"],
    ["a port that is no port", { port: ["70000"] }, '--port: "70000" is not a port (1-65535)'],
    ["a TLS mode that is none", { tls: "maybe" }, '--tls: "maybe" is not a TLS mode'],
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
