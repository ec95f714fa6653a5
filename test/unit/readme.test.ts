import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderReadme } from "../../scripts/readme-tables.js";

describe("README.md", () => {
  it("has the configuration and metrics tables the code generates (run `npm run docs` after changing a setting or a metric)", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    expect(renderReadme(readme)).toBe(readme);
  });
});
