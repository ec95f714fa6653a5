// The service bench's output: one table (metric, value, baseline, ratio or added, goal) on stdout
// and the whole run as JSON in bench/results/service-<timestamp>.json. bench/report.ts draws the
// engine bench's table, whose columns are named engine/minimal and whose file is engine-*.json;
// this is the same idea with the columns this bench needs.
import { layoutTable, writeJson } from "./report.js";
import { ratio } from "./stats.js";

export interface ServiceGoal {
  /** Shown in the goal column, e.g. "≤ 2 ms added". */
  text: string;
  /** What the goal is checked against. */
  on: "value" | "compare";
  max?: number;
  min?: number;
}

export interface ServiceRow {
  metric: string;
  value?: number;
  baseline?: number;
  /** The third column: value ÷ baseline, value − baseline, or nothing. */
  compare?: "ratio" | "added";
  /** Decimals for the value and baseline columns. */
  digits: number;
  goal?: ServiceGoal;
  /** A heading or a note printed across the table. */
  section?: string;
}

export interface ServiceVerdict {
  metric: string;
  value: number | null;
  baseline: number | null;
  ratio: number | null;
  added: number | null;
  goal: string | null;
  met: boolean | null;
}

export function heading(title: string): ServiceRow {
  return { metric: title, digits: 0, section: title };
}

function finite(x: number | undefined): number | null {
  return x === undefined || !Number.isFinite(x) ? null : x;
}

export function judgeRow(row: ServiceRow): ServiceVerdict {
  const r = row.compare === "ratio" ? ratio(row.value, row.baseline) : undefined;
  const added = row.compare === "added" && row.value !== undefined && row.baseline !== undefined ? row.value - row.baseline : undefined;
  let met: boolean | null = null;
  if (row.goal) {
    const checked = row.goal.on === "value" ? row.value : (r ?? added);
    if (checked !== undefined && Number.isFinite(checked)) {
      met = (row.goal.max === undefined || checked <= row.goal.max) && (row.goal.min === undefined || checked >= row.goal.min);
    }
  }
  return {
    metric: row.metric,
    value: finite(row.value),
    baseline: finite(row.baseline),
    ratio: finite(r),
    added: finite(added),
    goal: row.goal?.text ?? null,
    met,
  };
}

function format(x: number | null | undefined, digits: number): string {
  if (x === undefined || x === null || !Number.isFinite(x)) return "–";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The table as text (plain ASCII borders, so it pastes anywhere). */
export function renderServiceTable(rows: readonly ServiceRow[]): string {
  const header = ["metric", "value", "baseline", "ratio / added", "goal"];
  const body: (string[] | string)[] = rows.map((row) => {
    if (row.section) return row.section;
    const v = judgeRow(row);
    const third = v.ratio !== null ? `${format(v.ratio, 2)}×` : v.added !== null ? `${v.added >= 0 ? "+" : ""}${format(v.added, 2)}` : "";
    const goal = row.goal ? `${row.goal.text} ${v.met === null ? "?" : v.met ? "met" : "MISSED"}` : "";
    return [row.metric, format(v.value, row.digits), row.baseline === undefined ? "" : format(v.baseline, row.digits), third, goal];
  });
  return layoutTable(header, body);
}

/** Writes bench/results/service-<timestamp>.json; returns its path. */
export function writeServiceJson(startedAt: Date, data: unknown): Promise<string> {
  return writeJson(startedAt, data, "service");
}
