// Property tests of the request validator over hostile input (test/helpers/probe-request-arbitrary.ts):
// validateProbeRequest and checkTargetEarly never throw (a throw would be INTERNAL at the API),
// every refusal names a field and says why, and what they accept is within the limits.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import { PortRole, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { REGION_TOKEN } from "../../../../lib/bus.js";
import { checkTargetEarly, DEFAULT_REQUEST_LIMITS, validateProbeRequest } from "../../../../services/coordinator/validate-request.js";
import { probeRequestArbitrary } from "../../../helpers/probe-request-arbitrary.js";

const policy = createTargetPolicy({ allowCidrs: [], allowPorts: [25, 465, 587, 2525] });

describe("validateProbeRequest + checkTargetEarly (property)", () => {
  it("never throw: each request is accepted, refused with named fields (INVALID_ARGUMENT) or denied by the policy (PERMISSION_DENIED)", () => {
    fc.assert(
      fc.property(probeRequestArbitrary(), (request) => {
        const result = validateProbeRequest(request, { maxDeadlineMs: 120_000 });
        if (!result.ok) {
          expect(result.violations.length).toBeGreaterThan(0);
          for (const v of result.violations) {
            expect(v.field).toMatch(/^(host|mx|ports|regions|options|tls_modes|port_roles|idempotency_key)(\[\d+\]|\.[a-z_.]+)?/);
            expect(v.description.length).toBeGreaterThan(0);
            // Bounded: a message never carries a caller's megabyte back.
            expect(v.description.length).toBeLessThan(400);
          }
          return;
        }
        const value = result.value;
        expect(value.ports.length).toBeGreaterThanOrEqual(1);
        expect(value.ports.length).toBeLessThanOrEqual(DEFAULT_REQUEST_LIMITS.maxPorts);
        for (const p of value.ports) expect(p >= 1 && p <= 65535).toBe(true);
        expect(value.regions.length).toBeLessThanOrEqual(DEFAULT_REQUEST_LIMITS.maxRegions);
        for (const r of value.regions) expect(r).toMatch(REGION_TOKEN);
        expect(value.host).not.toMatch(/[\s\u0000]/);
        expect(value.deadlineMs).toBeLessThanOrEqual(120_000);
        expect(value.options.ehloName).not.toMatch(/[\r\n]/);
        // Each port's TLS mode is final here: what its tasks carry is what the report echoes.
        expect(value.targets.map((t) => t.port)).toEqual(value.ports);
        for (const t of value.targets) {
          expect(t.tlsMode).not.toBe(TlsMode.TLS_MODE_UNSPECIFIED);
          expect(t.options.tlsMode).toBe(t.tlsMode);
          expect(value.accepted.tlsModes[t.port]).toBe(t.tlsMode);
          // And its role, the same way.
          expect(t.portRole).not.toBe(PortRole.PORT_ROLE_UNSPECIFIED);
          expect(t.options.portRole).toBe(t.portRole);
          expect(value.accepted.portRoles[t.port]).toBe(t.portRole);
        }
        const denied = checkTargetEarly(value, policy);
        if (denied) {
          expect(denied.field).toMatch(/^(host|ports\[\d+\])$/);
          expect(denied.kind).toBe(denied.field === "host" ? "range" : "port");
          expect(denied.reason.length).toBeGreaterThan(0);
        }
        // What is accepted encodes and decodes to itself (it is stored in the report).
        expect(ProbeRequest.decode(ProbeRequest.encode(value.accepted).finish())).toEqual(value.accepted);
      }),
      { numRuns: 2_000 },
    );
  });

  it("an oversized field is refused, never copied whole into the message", () => {
    fc.assert(
      fc.property(fc.constantFrom("host", "ehloName", "sni", "idempotencyKey", "region"), fc.integer({ min: 1_000, max: 200_000 }), (field, size) => {
        const big = "a".repeat(size);
        const request = ProbeRequest.fromPartial({
          host: field === "host" ? big : "mx.example.test",
          regions: field === "region" ? [big] : [],
          idempotencyKey: field === "idempotencyKey" ? big : "",
          options: { ehloName: field === "ehloName" ? big : "", sni: field === "sni" ? big : "" },
        });
        const result = validateProbeRequest(request);
        expect(result.ok).toBe(false);
        if (!result.ok) for (const v of result.violations) expect(v.description.length).toBeLessThan(400);
      }),
      { numRuns: 50 },
    );
  });
});
