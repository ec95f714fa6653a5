// The bench's output: one table (metric, engine, minimal, ratio, goal) on stdout and the whole
// run as JSON under bench/results/ (git-ignored apart from .gitkeep); and what every bench's JSON
// records about the machine and the checkout it ran on.
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ratio } from "./stats.js";

export interface Goal {
  /** Shown in the goal column, e.g. "≤ 1.10". */
  text: string;
  /** Checked against the ratio, or against the engine's value when `on` is "engine". */
  on: "ratio" | "engine";
  max?: number;
  min?: number;
}

export interface Row {
  metric: string;
  engine: number | undefined;
  minimal: number | undefined;
  /** engine ÷ minimal; computed unless given (NaN: not meaningful). */
  ratio?: number;
  /** Decimals for the engine and minimal columns. */
  digits: number;
  goal?: Goal;
  /** A row of its own kind: a heading or a note, printed across. */
  section?: string;
}

export interface RowVerdict {
  metric: string;
  engine: number | null;
  minimal: number | null;
  ratio: number | null;
  goal: string | null;
  met: boolean | null;
}

export function sectionRow(title: string): Row {
  return { metric: title, engine: undefined, minimal: undefined, digits: 0, section: title };
}

function finite(x: number | undefined): number | null {
  return x === undefined || !Number.isFinite(x) ? null : x;
}

export function judge(row: Row): RowVerdict {
  const r = row.ratio ?? ratio(row.engine, row.minimal);
  let met: boolean | null = null;
  if (row.goal) {
    const value = row.goal.on === "ratio" ? r : row.engine;
    if (value !== undefined && Number.isFinite(value)) {
      met = (row.goal.max === undefined || value <= row.goal.max) && (row.goal.min === undefined || value >= row.goal.min);
    }
  }
  return {
    metric: row.metric,
    engine: finite(row.engine),
    minimal: finite(row.minimal),
    ratio: finite(r),
    goal: row.goal ? `${row.goal.on === "ratio" ? "ratio" : "engine"} ${row.goal.text}` : null,
    met,
  };
}

function format(x: number | undefined, digits: number): string {
  if (x === undefined || !Number.isFinite(x)) return "–";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The table as text (plain ASCII borders, so it pastes anywhere). */
export function renderTable(rows: readonly Row[]): string {
  const header = ["metric", "engine", "minimal", "ratio", "goal"];
  const body: (string[] | string)[] = rows.map((row) => {
    if (row.section) return row.section;
    const verdict = judge(row);
    const goal = row.goal ? `${row.goal.on === "ratio" ? "" : "engine "}${row.goal.text} ${verdict.met === null ? "?" : verdict.met ? "met" : "MISSED"}` : "";
    return [row.metric, format(row.engine, row.digits), format(row.minimal, row.digits), format(verdict.ratio ?? undefined, 2), goal];
  });
  return layoutTable(header, body);
}

/**
 * Lays out a five-column table: the first and last columns left-aligned, numbers right-aligned,
 * a section title as a line of its own running into a rule.
 */
export function layoutTable(header: readonly string[], body: readonly (string[] | string)[]): string {
  const cells = body.filter((line): line is string[] => Array.isArray(line));
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((line) => line[i]?.length ?? 0)));
  const total = widths.reduce((sum, w) => sum + w + 3, -3);
  const last = header.length - 1;
  const pad = (line: readonly string[]): string =>
    line.map((cell, i) => (i === 0 || i === last ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(" | ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("-+-");
  const out = [pad(header), rule];
  for (const line of body) {
    out.push(typeof line === "string" ? `${line} ${"-".repeat(Math.max(0, total - line.length - 1))}` : pad(line));
  }
  return out.join("\n");
}

/** The section a row is under: the title of the last section row before it ("" for none). */
export function sectionOf<R extends { section?: string }>(rows: readonly R[], row: R): string {
  let section = "";
  for (const r of rows) {
    if (r.section) section = r.section;
    if (r === row) return section;
  }
  return section;
}

/** A command's trimmed stdout, or undefined when it is missing or fails (an environment fact). */
export function commandOutput(command: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: "utf8", timeout: 5_000, stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

/**
 * The machine and the checkout of a run. `measuredPaths`: the directories whose uncommitted
 * changes make the figures those of no commit (gitDirty).
 */
export function machineEnvironment(measuredPaths: readonly string[]): Record<string, unknown> {
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    totalMemoryMb: Math.round(totalmem() / 2 ** 20),
    gitCommit: commandOutput("git", ["rev-parse", "HEAD"]),
    gitDirty: (commandOutput("git", ["status", "--porcelain", "--", ...measuredPaths]) ?? "") !== "",
  };
}

const resultsDir = fileURLToPath(new URL("./results/", import.meta.url));

/** Writes bench/results/<name>-<timestamp>.json; returns its path. */
export async function writeJson(startedAt: Date, data: unknown, name = "engine"): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const path = join(resultsDir, `${name}-${stamp}.json`);
  await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}
