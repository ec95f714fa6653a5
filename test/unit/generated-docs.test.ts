import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generatedPages, renderPage } from "../../scripts/docs-tables.js";

describe("docs/", () => {
  it.each(generatedPages().map((page) => [page.path, page] as const))(
    "%s has the tables the code generates (run `npm run docs` after changing a setting or a metric)",
    (path, page) => {
      const text = readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
      expect(renderPage(text, page)).toBe(text);
    },
  );
});
