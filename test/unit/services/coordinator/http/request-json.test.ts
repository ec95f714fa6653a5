import { describe, expect, it } from "vitest";
import { WatchBatchRequest } from "../../../../../gen/smtpprobe/v1/batch.js";
import { TlsMode } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest } from "../../../../../gen/smtpprobe/v1/probe_service.js";
import { apiMessage } from "../../../../../lib/api-schema.js";
import { mergeUrlParts, parseRequestJson } from "../../../../../services/coordinator/http/request-json.js";

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

describe("mergeUrlParts: the query and the path's fields join the body's", () => {
  const WATCH = apiMessage("smtpprobe.v1.WatchBatchRequest");
  const CANCEL = apiMessage("smtpprobe.v1.CancelBatchRequest");
  const ID = "0b7c5a52-2f4e-4d43-9a43-3f5b0c1e2d3a";
  const watch = (query: [string, string][], lastEventId?: string) =>
    mergeUrlParts(WATCH, {}, { query, queryFields: ["after_sequence"], params: { batch_id: ID }, resume: { field: "after_sequence", lastEventId }, route: "/v1/batches/{batch_id}:watch" });

  it.each<[string, ReturnType<typeof watch>, Record<string, unknown>]>([
    ["the path alone", watch([]), { batch_id: ID }],
    ["a query parameter by its proto name", watch([["after_sequence", "12"]]), { batch_id: ID, after_sequence: "12" }],
    ["a query parameter by its JSON name", watch([["afterSequence", "12"]]), { batch_id: ID, after_sequence: "12" }],
    ["Last-Event-ID when the query has none", watch([], " 7 "), { batch_id: ID, after_sequence: "7" }],
    ["the query over Last-Event-ID", watch([["after_sequence", "3"]], "7"), { batch_id: ID, after_sequence: "3" }],
    ["a body's field the path repeats the same", mergeUrlParts(CANCEL, { batchId: ID }, { query: [], queryFields: [], params: { batch_id: ID }, route: "r" }), { batch_id: ID }],
  ])("accepts %s", (_, merged, json) => {
    expect(merged).toEqual({ ok: true, json });
    if (merged.ok) expect(WatchBatchRequest.fromJSON(merged.json).batchId).toBe(ID);
  });

  it.each<[string, ReturnType<typeof watch>, string[]]>([
    ["a parameter the route does not take", watch([["after", "3"]]), ["after: is not a query parameter of /v1/batches/{batch_id}:watch (it takes after_sequence)"]],
    ["a field that is not a query parameter", watch([["batch_id", ID]]), ["batch_id: is not a query parameter of /v1/batches/{batch_id}:watch (it takes after_sequence)"]],
    ["a value of the wrong type", watch([["after_sequence", "soon"]]), ["after_sequence: must be an integer"]],
    ["a Last-Event-ID of the wrong type", watch([], "abc"), ["after_sequence: must be an integer"]],
    [
      "a body's field the path says otherwise",
      mergeUrlParts(CANCEL, { batch_id: "x" }, { query: [], queryFields: [], params: { batch_id: ID }, route: "r" }),
      [`batch_id: is "${ID}" in the path and "x" in the body; leave it out of the body`],
    ],
    ["a query on a route that takes none", mergeUrlParts(CANCEL, {}, { query: [["q", "1"]], queryFields: [], params: { batch_id: ID }, route: "r" }), ["q: is not a query parameter of r (it takes none)"]],
  ])("refuses %s, naming the field", (_, merged, violations) => {
    expect(merged.ok).toBe(false);
    if (!merged.ok) expect(merged.violations.map((v) => `${v.field}: ${v.description}`)).toEqual(violations);
  });
});
