import { describe, expect, it } from "vitest";
import { DEFAULT_WIDTH, outputWidth } from "../../../cli/output-width.js";

describe("outputWidth", () => {
  it.each<[string, { isTTY?: boolean; columns?: number }, Record<string, string>, number]>([
    ["a pipe or a file: 80", {}, {}, DEFAULT_WIDTH],
    ["a terminal: its width", { isTTY: true, columns: 100 }, {}, 100],
    ["COLUMNS wins over the terminal", { isTTY: true, columns: 100 }, { COLUMNS: "60" }, 60],
    ["COLUMNS for a pipe", {}, { COLUMNS: "120" }, 120],
    ["COLUMNS that is no width is ignored", { isTTY: true, columns: 90 }, { COLUMNS: "wide" }, 90],
    ["never narrower than 40", { isTTY: true, columns: 20 }, {}, 40],
    ["columns of a stream that is no terminal do not count", { isTTY: false, columns: 200 }, {}, DEFAULT_WIDTH],
  ])("%s", (_, stream, env, width) => {
    expect(outputWidth(stream, env)).toBe(width);
  });
});
