import { describe, expect, it } from "vitest";
import { Outcome } from "../../../gen/smtpprobe/v1/handshake.js";
import { formatMs, outcomeLabel, safe } from "../../../cli/labels.js";

describe("labels", () => {
  it.each([
    [0.4567, "0.46 ms"],
    [3.4, "3.40 ms"],
    [12.34, "12.3 ms"],
    [128.6, "129 ms"],
    [2345, "2.35 s"],
  ])("formatMs(%d) = %s", (ms, text) => {
    expect(formatMs(ms)).toBe(text);
  });

  it("safe() escapes C0, DEL, C1 and bidi controls, and keeps the rest", () => {
    expect(safe("a\r\n\x7f\x85\u200e b é ✓")).toBe("a\\x0d\\x0a\\x7f\\x85\\u200e b é ✓");
  });

  it("names every outcome for people", () => {
    for (const outcome of Object.values(Outcome).filter((v): v is Outcome => typeof v === "number" && v >= 0)) {
      expect(outcomeLabel(outcome)).not.toMatch(/^outcome /);
    }
    expect(outcomeLabel(Outcome.OUTCOME_CLOSED_BY_PEER)).toBe("closed by the server");
  });
});
