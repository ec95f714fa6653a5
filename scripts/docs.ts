// `npm run docs`: rewrites the README's generated tables (scripts/readme-tables.ts).
import { readFile, writeFile } from "node:fs/promises";
import { renderReadme } from "./readme-tables.js";

const path = new URL("../README.md", import.meta.url);
const before = await readFile(path, "utf8");
const after = renderReadme(before);
await writeFile(path, after);
process.stdout.write(before === after ? "README.md: up to date\n" : "README.md: tables rewritten\n");
