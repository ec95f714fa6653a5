// docs/design.md's "Where things live" table is the map a newcomer reads first: every source file
// must be on it (named, matched by a pattern such as `compare*.ts`, or inside a folder row), and
// every path it names must exist. A file added, moved or removed without the map fails here.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The folders whose every file must be on the map, one by one or through a folder row. */
const MAPPED = ["agents", "lib", "services", "scripts", "bin", "cli", "web"];

/** The table's rows: each row's first cell as the paths it names. */
function mapEntries(): string[] {
  const text = readFileSync(join(ROOT, "docs/design.md"), "utf8");
  const section = text.slice(text.indexOf("## 6. Where things live"));
  const rows = section.split("\n").filter((line) => line.startsWith("| `"));
  return rows.flatMap((row) => {
    const cell = row.split("|")[1] ?? "";
    const names = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    // A bare file name after the first path is in the first path's folder: `lib/a.ts`, `b.ts`.
    const base = names[0]?.includes("/") ? posix.dirname(names[0]) : "";
    return names.map((name) => (name.includes("/") || base === "" ? name : `${base}/${name}`));
  });
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) ? [path] : [];
  });
}

function covers(entry: string, file: string): boolean {
  if (entry.endsWith("/")) return file.startsWith(entry);
  if (entry.includes("*")) {
    const pattern = new RegExp(`^${entry.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
    return pattern.test(file);
  }
  return entry === file;
}

describe("docs/design.md: where things live", () => {
  const entries = mapEntries();

  it("names every source file", () => {
    const unmapped = MAPPED.flatMap(sourceFiles).filter((file) => !entries.some((entry) => covers(entry, file)));
    expect(unmapped).toEqual([]);
  });

  it("names only paths that exist", () => {
    const missing = entries.filter((entry) => !entry.includes("*") && !existsSync(join(ROOT, entry)));
    expect(missing).toEqual([]);
  });
});
