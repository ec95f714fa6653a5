import { describe, expect, it } from "vitest";
import { boundHeaders, MAX_HEADER_LENGTH, MAX_HEADERS } from "../../../lib/bus.js";

describe("boundHeaders", () => {
  it("keeps the first MAX_HEADERS headers, keys lower-cased, keys and values cut to MAX_HEADER_LENGTH", () => {
    expect([MAX_HEADERS, MAX_HEADER_LENGTH]).toEqual([16, 256]);
    const entries: [string, string][] = Array.from({ length: 20 }, (_, i) => [`X-Header-${String(i).padStart(2, "0")}-${"K".repeat(300)}`, `${i}:${"V".repeat(300)}`]);
    const bounded = boundHeaders(entries);

    const expected: Record<string, string> = {};
    for (const [key, value] of entries.slice(0, 16)) expected[key.toLowerCase().slice(0, 256)] = value.slice(0, 256);
    expect(bounded).toEqual(expected);
    expect(Object.keys(bounded)).toHaveLength(16);
    for (const [key, value] of Object.entries(bounded)) {
      expect(key).toHaveLength(256);
      expect(key).toBe(key.toLowerCase());
      expect(key).toMatch(/^x-header-(0\d|1[0-5])-k+$/);
      expect(value).toHaveLength(256);
    }
  });

  it("passes short headers through, keys lower-cased", () => {
    expect(boundHeaders([["Traceparent", "00-abc-def-01"], ["smtpprobe-probe-id", "p-1"]])).toEqual({ traceparent: "00-abc-def-01", "smtpprobe-probe-id": "p-1" });
    expect(boundHeaders([])).toEqual({});
  });
});
