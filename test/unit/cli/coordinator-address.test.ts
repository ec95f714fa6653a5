import { describe, expect, it } from "vitest";
import { parseCoordinatorAddress } from "../../../cli/coordinator-address.js";
import { UsageError } from "../../../cli/usage-error.js";

describe("parseCoordinatorAddress", () => {
  it.each([
    ["127.0.0.1:50051", "127.0.0.1:50051"],
    [" 127.0.0.1:7000 ", "127.0.0.1:7000"],
    ["127.0.0.1", "127.0.0.1:50051"],
    ["probe.internal", "probe.internal:50051"],
    ["localhost:1", "localhost:1"],
    ["[::1]:50051", "[::1]:50051"],
    ["[::1]", "[::1]:50051"],
  ])("%j → %s", (text, target) => {
    expect(parseCoordinatorAddress(text, "--coordinator")).toEqual({ target, source: "--coordinator" });
  });

  it.each([
    ["", '--coordinator: "" has no host'],
    [":50051", '--coordinator: ":50051" has no host'],
    ["::1", '--coordinator: "::1" is not HOST[:PORT]'],
    ["127.0.0.1:0", '--coordinator: "127.0.0.1:0" has a bad port "0" (1-65535)'],
    ["127.0.0.1:http", '--coordinator: "127.0.0.1:http" has a bad port "http"'],
    ["[fe80::zz]:1", '--coordinator: "[fe80::zz]:1" has no IPv6 address in its brackets'],
    ["bad host:1", '--coordinator: "bad host:1" has a bad host'],
  ])("%j is refused: %s", (text, message) => {
    expect(() => parseCoordinatorAddress(text, "--coordinator")).toThrow(UsageError);
    expect(() => parseCoordinatorAddress(text, "--coordinator")).toThrow(message);
  });

  it("names the variable when the address came from it", () => {
    expect(() => parseCoordinatorAddress("x:y", "SMTP_PROBE_COORDINATOR")).toThrow(/^SMTP_PROBE_COORDINATOR: "x:y" has a bad port/);
  });
});
