// `npm run docs`: rewrites the generated tables of docs/ (scripts/docs-tables.ts).
import { readFile, writeFile } from "node:fs/promises";
import { generatedPages, renderPage } from "./docs-tables.js";

for (const page of generatedPages()) {
  const path = new URL(`../${page.path}`, import.meta.url);
  const before = await readFile(path, "utf8");
  const after = renderPage(before, page);
  await writeFile(path, after);
  process.stdout.write(`${page.path}: ${before === after ? "up to date" : "tables rewritten"}\n`);
}
