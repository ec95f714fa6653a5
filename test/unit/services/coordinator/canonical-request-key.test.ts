// Which requests are "the same probe" for duplicate joining (probe-service.ts).
import { describe, expect, it } from "vitest";
import { TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { defaultTlsMode } from "../../../../agents/smtp/options.js";
import { canonicalRequestKey } from "../../../../services/coordinator/probe-service.js";
import { validateProbeRequest } from "../../../../services/coordinator/validate-request.js";

type Input = Parameters<typeof ProbeRequest.fromPartial>[0];

function keyOf(input: Input): string {
  const result = validateProbeRequest(ProbeRequest.fromPartial(input));
  if (!result.ok) throw new Error(JSON.stringify(result.violations));
  return canonicalRequestKey(result.value);
}

const base: Input = { host: "mx.example.test", ports: [25, 587], regions: ["eu-west", "us-east"] };

describe("canonicalRequestKey", () => {
  it.each<[string, Input]>([
    ["ports in another order", { ...base, ports: [587, 25] }],
    ["regions in another order", { ...base, regions: ["us-east", "eu-west"] }],
    ["another idempotency key", { ...base, idempotencyKey: "k-1" }],
    ["the host in upper case", { ...base, host: "MX.Example.TEST" }],
    ["defaults spelled out (TLS modes of the ports)", { ...base, tlsModes: { 25: defaultTlsMode(25), 587: defaultTlsMode(587) } }],
  ])("the same probe: %s", (_, other) => {
    expect(keyOf(other)).toBe(keyOf(base));
  });

  it.each<[string, Input]>([
    ["another host", { ...base, host: "mx2.example.test" }],
    ["another port", { ...base, ports: [25, 465] }],
    ["fewer regions", { ...base, regions: ["eu-west"] }],
    ["mx asked", { ...base, host: "example.test", mx: true }],
    ["another EHLO name", { ...base, options: { ehloName: "probe.example.test" } }],
    ["another banner timeout", { ...base, options: { timeouts: { bannerMs: 5_000 } } }],
    ["another TLS mode for a port", { ...base, tlsModes: { 587: TlsMode.TLS_MODE_REQUIRE } }],
  ])("another probe: %s", (_, other) => {
    expect(keyOf(other)).not.toBe(keyOf(base));
  });
});
