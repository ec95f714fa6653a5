import { describe, expect, it } from "vitest";
import { egressPerPort, formatCanary } from "../../../../agents/probe/canary.js";
import { parseHostPort } from "../../../../lib/config-schemas.js";
import { EgressCheck } from "../../../../gen/smtpprobe/v1/probe_service.js";

describe("canaries as --canary takes them (parseHostPort) and results name them (formatCanary)", () => {
  it.each([
    ["canary.example.net:25", { host: "canary.example.net", port: 25 }],
    ["192.0.2.1:587", { host: "192.0.2.1", port: 587 }],
    ["[2001:db8::1]:465", { host: "2001:db8::1", port: 465 }],
    [" mx.example.org:2525 ", { host: "mx.example.org", port: 2525 }],
  ])("%s", (text, expected) => {
    expect(parseHostPort(text)).toEqual(expected);
    expect(formatCanary(expected)).toBe(text.trim());
  });

  it.each(["canary.example.net", "canary.example.net:0", "canary.example.net:65536", ":25", "2001:db8::1:25", "[mx.example.net]:25", "host:port", "a:25:26", ""])(
    "refuses %j",
    (text) => {
      expect(parseHostPort(text)).toBeUndefined();
    },
  );
});

describe("egressPerPort", () => {
  const check = (port: number, canary: string, ok: boolean) => EgressCheck.fromPartial({ port, canary, ok });

  it("keeps one check per port, in port order, an ok canary winning over a failed one", () => {
    expect(
      egressPerPort([check(587, "a:587", false), check(25, "a:25", false), check(25, "b:25", true), check(25, "c:25", true), check(587, "b:587", false)]),
    ).toEqual([check(25, "b:25", true), check(587, "a:587", false)]);
  });
});
