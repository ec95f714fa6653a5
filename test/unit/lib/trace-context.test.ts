import { describe, expect, it } from "vitest";
import { formatTraceparent, parseTraceparent, startSpan } from "../../../lib/trace-context.js";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("parseTraceparent", () => {
  it.each([
    ["the spec's example", `00-${TRACE}-${SPAN}-01`, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
    ["not sampled", `00-${TRACE}-${SPAN}-00`, { traceId: TRACE, spanId: SPAN, traceFlags: 0 }],
    ["upper case is read as lower case", `00-${TRACE.toUpperCase()}-${SPAN}-01`, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
    ["unknown flag bits are dropped", `00-${TRACE}-${SPAN}-ff`, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
    ["a later version: the first four fields", `01-${TRACE}-${SPAN}-01-what-comes-next`, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
  ])("%s", (_name, value, expected) => {
    expect(parseTraceparent(value)).toMatchObject(expected);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["version ff", `ff-${TRACE}-${SPAN}-01`],
    ["version 00 with more fields", `00-${TRACE}-${SPAN}-01-x`],
    ["all-zero trace id", `00-${"0".repeat(32)}-${SPAN}-01`],
    ["all-zero parent id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["short trace id", `00-${TRACE.slice(1)}-${SPAN}-01`],
    ["not hex", `00-${TRACE.replace("4", "g")}-${SPAN}-01`],
  ])("refuses %s", (_name, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it("formats what it parses back to the same text", () => {
    const value = `00-${TRACE}-${SPAN}-01`;
    expect(formatTraceparent(parseTraceparent(value)!)).toBe(value);
  });
});

describe("startSpan without an OpenTelemetry SDK", () => {
  it("keeps the caller's trace id, so every process logs the same one", () => {
    const traced = startSpan("probe", `00-${TRACE}-${SPAN}-01`);
    expect(traced.traceId).toBe(TRACE);
    expect(parseTraceparent(traced.traceparent)?.traceId).toBe(TRACE);
    traced.span.end();
  });

  it("starts a new trace when the caller sent none or an invalid one", () => {
    const a = startSpan("probe", undefined);
    const b = startSpan("probe", "garbage");
    expect(a.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(b.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a.traceId).not.toBe(b.traceId);
    expect(parseTraceparent(a.traceparent)?.traceId).toBe(a.traceId);
  });
});
