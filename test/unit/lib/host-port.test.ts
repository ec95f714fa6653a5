import { describe, expect, it } from "vitest";
import { formatHostPort } from "../../../lib/host-port.js";

describe("formatHostPort", () => {
  it.each([
    ["192.0.2.1", 25, "192.0.2.1:25"],
    ["mx.example.com", 587, "mx.example.com:587"],
    ["mx.example.com.", 25, "mx.example.com.:25"],
    ["2001:db8::1", 25, "[2001:db8::1]:25"],
    ["::1", 50051, "[::1]:50051"],
    ["::ffff:192.0.2.1", 465, "[::ffff:192.0.2.1]:465"],
    ["fe80::1%eth0", 25, "[fe80::1%eth0]:25"],
    ["", 0, ":0"],
  ])("%s and %i: %s", (host, port, text) => {
    expect(formatHostPort(host, port)).toBe(text);
  });
});
