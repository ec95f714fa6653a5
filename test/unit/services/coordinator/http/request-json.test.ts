import { describe, expect, it } from "vitest";
import { TlsMode } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest } from "../../../../../gen/smtpprobe/v1/probe_service.js";
import { apiMessage } from "../../../../../lib/api-schema.js";
import { parseRequestJson } from "../../../../../services/coordinator/http/request-json.js";

const PROBE_REQUEST = apiMessage("smtpprobe.v1.ProbeRequest");

describe("parseRequestJson: what the JSON mapping allows", () => {
  it.each<[string, string]>([
    ["an empty body (every field at its default)", ""],
    ["JSON names", '{"host":"mx.example.com","ports":[25,587],"idempotencyKey":"k1","options":{"tlsMode":"TLS_MODE_REQUIRE","timeouts":{"deadlineMs":5000}}}'],
    ["proto names", '{"host":"mx.example.com","idempotency_key":"k1","options":{"tls_mode":"TLS_MODE_REQUIRE","timeouts":{"deadline_ms":5000}}}'],
    ["enum values as numbers", '{"options":{"tlsMode":2}}'],
    ["integers as strings", '{"ports":["25"],"options":{"timeouts":{"deadlineMs":"5000"}}}'],
    ["null for a default", '{"host":null,"options":null}'],
    ["maps with port keys", '{"ports":[25],"tlsModes":{"25":"TLS_MODE_NONE"},"portRoles":{"25":"PORT_ROLE_MX_RELAY"}}'],
  ])("accepts %s", (_, body) => {
    const checked = parseRequestJson(body, PROBE_REQUEST);
    expect(checked).toMatchObject({ ok: true });
  });

  it("gives the generated fromJSON what it reads the same way", () => {
    const checked = parseRequestJson('{"host":"mx.example.com","ports":["25"],"tls_modes":{"25":"TLS_MODE_NONE"}}', PROBE_REQUEST);
    if (!checked.ok) throw new Error("refused");
    const request = ProbeRequest.fromJSON(checked.json);
    expect(request.ports).toEqual([25]);
    expect(request.tlsModes).toEqual({ 25: TlsMode.TLS_MODE_NONE });
  });
});

describe("parseRequestJson: each problem named by its field's proto path", () => {
  it.each<[string, string, { field: string; description: string | RegExp }[]]>([
    ["not JSON", "{host:", [{ field: "request", description: /^is not JSON: / }]],
    ["not an object", "[1]", [{ field: "request", description: "must be a JSON object (a smtpprobe.v1.ProbeRequest)" }]],
    ["an unknown field", '{"hots":"x"}', [{ field: "hots", description: /^is not a field of smtpprobe.v1.ProbeRequest \(its fields: host, mx, ports/ }]],
    ["a string for a list", '{"ports":"25"}', [{ field: "ports", description: "must be a JSON array" }]],
    ["a word for a port", '{"ports":[25,"abc"]}', [{ field: "ports[1]", description: "must be an integer" }]],
    ["a port past uint32", '{"ports":[4294967296]}', [{ field: "ports[0]", description: "must be an integer from 0 to 4294967295" }]],
    ["a fraction", '{"ports":[25.5]}', [{ field: "ports[0]", description: "must be an integer" }]],
    ["a number for a string", '{"host":25}', [{ field: "host", description: "must be a string" }]],
    ["a string for a bool", '{"mx":"yes"}', [{ field: "mx", description: "must be true or false" }]],
    ["an unknown enum name", '{"options":{"tlsMode":"TLS_MODE_MAYBE"}}', [{ field: "options.tls_mode", description: /^must be one of TLS_MODE_UNSPECIFIED, TLS_MODE_AUTO/ }]],
    ["a nested unknown field", '{"options":{"timeouts":{"deadline":5}}}', [{ field: "options.timeouts.deadline", description: /^is not a field of smtpprobe.v1.Timeouts/ }]],
    ["a map key that is no port", '{"tlsModes":{"x":"TLS_MODE_NONE"}}', [{ field: "tls_modes[x]", description: "must be an integer" }]],
    ["a list for a message", '{"options":[]}', [{ field: "options", description: "must be a JSON object (a smtpprobe.v1.ProbeOptions)" }]],
  ])("refuses %s", (_, body, expected) => {
    const checked = parseRequestJson(body, PROBE_REQUEST);
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.violations).toEqual(expected.map((v) => ({ field: v.field, description: typeof v.description === "string" ? v.description : expect.stringMatching(v.description) })));
  });

  it("reports every problem, at most 20", () => {
    const body = JSON.stringify(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, 1])));
    const checked = parseRequestJson(body, PROBE_REQUEST);
    expect(checked.ok ? 0 : checked.violations.length).toBe(20);
  });
});
