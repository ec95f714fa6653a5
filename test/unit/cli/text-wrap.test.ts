import { describe, expect, it } from "vitest";
import { makeStyle } from "../../../cli/colors.js";
import { visibleWidth, wrapHanging, wrapWords } from "../../../cli/text-wrap.js";

const color = makeStyle(true);

describe("visibleWidth", () => {
  it.each<[string, string, number]>([
    ["plain text", "abc def", 7],
    ["colour escapes count for nothing", color.red("abc") + color.dim(" · ") + color.bold("d"), 7],
    ["a mark is one column", "✔ ◐ ✖", 5],
    ["empty", "", 0],
  ])("%s", (_, text, width) => {
    expect(visibleWidth(text)).toBe(width);
  });
});

describe("wrapWords", () => {
  it.each<[string, string, number, number, string[]]>([
    ["fits: one line", "one two three", 20, 20, ["one two three"]],
    ["breaks at spaces", "one two three four", 9, 9, ["one two", "three", "four"]],
    ["the first line has its own room", "one two three four", 4, 14, ["one", "two three four"]],
    ["a word longer than a line is cut", "AB:CD:EF:01:23", 6, 6, ["AB:CD:", "EF:01:", "23"]],
    ["spaces at a break are dropped, inside a line kept", "a  b  c", 4, 4, ["a  b", "c"]],
    ["empty", "", 10, 10, [""]],
  ])("%s", (_, body, first, rest, lines) => {
    expect(wrapWords(body, first, rest)).toEqual(lines);
  });

  it("never cuts a colour escape, and counts only what shows", () => {
    const body = `${color.green("STARTTLS")} · ${color.red("0123456789")}`;
    const lines = wrapWords(body, 12, 12);
    expect(lines.map(visibleWidth).every((w) => w <= 12)).toBe(true);
    expect(lines.join(" ").replace(/\x1b\[[0-9;]*m/g, "")).toBe("STARTTLS · 0123456789");
    for (const line of lines) expect(line).not.toMatch(/\x1b(?!\[[0-9;]*m)/);
  });
});

describe("wrapHanging", () => {
  it("continuation lines line up under the body, never under the head", () => {
    expect(wrapHanging("  Banner      ", "220 mx.example.com ESMTP ready — 220: service ready", 40)).toEqual([
      "  Banner      220 mx.example.com ESMTP",
      "              ready — 220: service ready",
    ]);
  });

  it("a line that fits, or no width at all, stays whole", () => {
    expect(wrapHanging("✔ ", "short", 80)).toEqual(["✔ short"]);
    expect(wrapHanging("✔ ", "x ".repeat(100).trim(), Number.POSITIVE_INFINITY)).toEqual([`✔ ${"x ".repeat(100).trim()}`]);
  });

  it("an indent that would leave fewer than 20 columns gives way to 4", () => {
    const lines = wrapHanging(`${"w".repeat(40)}  `, "one two three four five six seven eight nine ten", 60);
    expect(lines[0]).toBe(`${"w".repeat(40)}  one two three four`);
    expect(lines.slice(1).every((l) => l.startsWith("    ") && !l.startsWith("     "))).toBe(true);
  });

  it.each([60, 100])("every line fits %i columns", (width) => {
    const text = "The certificate for mx.example.test on 127.0.0.1 port 2525 is not trusted: the issuer is unknown (UNABLE_TO_VERIFY_LEAF_SIGNATURE); SHA-256 09:B2:99:4E:FE:67:12:9F:89:59:37:AD:F5:CD:C4:B6:E6:57:AE:8B:6A:98:04:BF:00:45:BF:ED:F0:C4:C1:91";
    const lines = wrapHanging(`      ${color.red("✖")} `, text, width);
    expect(lines.length).toBeGreaterThan(1);
    expect(Math.max(...lines.map(visibleWidth))).toBeLessThanOrEqual(width);
    expect(lines.slice(1).every((l) => l.startsWith(" ".repeat(8)))).toBe(true);
  });
});
