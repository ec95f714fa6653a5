import { describe, expect, it } from "vitest";
import { makeStyle, shouldUseColor } from "../../../cli/colors.js";

describe("shouldUseColor", () => {
  it.each<[string, boolean, Record<string, string>, boolean, boolean]>([
    ["a terminal", true, {}, true, true],
    ["a pipe", true, {}, false, false],
    ["--no-color on a terminal", false, {}, true, false],
    ["--no-color beats FORCE_COLOR", false, { FORCE_COLOR: "1" }, false, false],
    ["NO_COLOR on a terminal", true, { NO_COLOR: "1" }, true, false],
    ["an empty NO_COLOR is not set (no-color.org)", true, { NO_COLOR: "" }, true, true],
    ["NO_COLOR beats FORCE_COLOR", true, { NO_COLOR: "1", FORCE_COLOR: "1" }, true, false],
    ["FORCE_COLOR through a pipe", true, { FORCE_COLOR: "1" }, false, true],
    ["FORCE_COLOR=0 on a terminal", true, { FORCE_COLOR: "0" }, true, false],
    ["FORCE_COLOR=false", true, { FORCE_COLOR: "false" }, true, false],
    ["TERM=dumb", true, { TERM: "dumb" }, true, false],
  ])("%s", (_, colorAllowed, env, isTTY, expected) => {
    expect(shouldUseColor({ colorAllowed, env, isTTY })).toBe(expected);
  });

  it("makes a style that adds escapes only when enabled", () => {
    expect(makeStyle(false).red("x")).toBe("x");
    expect(makeStyle(true).red("x")).toBe("\x1b[31mx\x1b[39m");
  });
});
