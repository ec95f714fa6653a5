// The region × port matrix for people: rows are regions, columns ports, each cell "✔ 120 ms
// TLSv1.3", "◐ v4 ok, v6 refused", "✖ refused", "– no agent" (describeCell, the coordinator's own
// words), or while a probe runs the phase a task is at. A finished report where both address
// families were probed gets a row per family under each region ("IPv4", "IPv6"), each cell then
// what that family saw. Pure: text in, text out; colour through a Style.
import { AddressFamily } from "../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus, type MatrixCell, type ProbeReport, type ProbeRequest } from "../gen/smtpprobe/v1/probe_service.js";
import { buildCell, familyCell } from "../services/coordinator/compare-cells.js";
import { describeCell } from "../services/coordinator/compare.js";
import { familyName } from "../services/coordinator/compare-partial.js";
import type { Style } from "./colors.js";
import { phaseLabel } from "../agents/smtp/phases.js";
import { safe } from "./labels.js";
import { cellKey, plannedGrid, type LiveProbe } from "./live-probe.js";

/** How a cell is coloured: reached (green), partly reached (yellow), failed (red), no answer (dim), still running (cyan). */
export type CellTone = "reached" | "partial" | "failed" | "silent" | "pending";

export interface CellView {
  /** Plain text, no colour: "✔ 120 ms TLSv1.3". */
  text: string;
  tone: CellTone;
}

export interface MatrixView {
  regions: readonly string[];
  ports: readonly number[];
  /** A row per family under each region, in this order; empty: one row per region. */
  families: readonly AddressFamily[];
  /** The cell, or with a family its row's cell. */
  cell(region: string, port: number, family?: AddressFamily): CellView;
}

const BOTH_FAMILIES: readonly AddressFamily[] = [AddressFamily.ADDRESS_FAMILY_IPV4, AddressFamily.ADDRESS_FAMILY_IPV6];

export const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** A final cell, in the words of describeCell. */
export function cellViewOf(cell: MatrixCell): CellView {
  return { text: safe(describeCell(cell)), tone: toneOf(cell.state) };
}

function toneOf(state: CellState): CellTone {
  switch (state) {
    case CellState.CELL_STATE_REACHED:
      return "reached";
    case CellState.CELL_STATE_PARTIAL:
      return "partial";
    case CellState.CELL_STATE_NO_ANSWER:
    case CellState.CELL_STATE_UNSPECIFIED:
      return "silent";
    default:
      return "failed";
  }
}

/** Both families when some cell holds addresses of both (probed both), else none: one row per region. */
function familiesProbed(cells: readonly MatrixCell[]): AddressFamily[] {
  const seen = new Set(cells.flatMap((c) => c.addresses.map((a) => a.family)));
  return BOTH_FAMILIES.every((f) => seen.has(f)) ? [...BOTH_FAMILIES] : [];
}

/**
 * The matrix of a finished report: its comparison's cells, regions as planned, ports as requested.
 * Regions no agent has ever served (unknown_regions) are left out: no row of "unknown region"
 * cells that would read like an outage; the report names them apart (format-report.ts).
 */
export function reportMatrixView(report: ProbeReport): MatrixView {
  const unknown = new Set(report.comparison?.unknownRegions ?? []);
  const cells = (report.comparison?.cells ?? []).filter((c) => !unknown.has(c.region));
  const byKey = new Map(cells.map((c) => [cellKey(c.region, c.port), c]));
  const regions = unique([...report.regions, ...cells.map((c) => c.region)]).filter((r) => !unknown.has(r));
  const ports = unique([...(report.request?.ports ?? []), ...cells.map((c) => c.port)]);
  return {
    regions,
    ports,
    families: familiesProbed(cells),
    cell(region, port, family) {
      const cell = byKey.get(cellKey(region, port));
      if (!cell) return { text: "– no report", tone: "silent" };
      if (family === undefined) return cellViewOf(cell);
      const seen = familyCell(cell, family);
      return seen ? cellViewOf(seen) : { text: `– no ${familyName(family)} address`, tone: "silent" };
    },
  };
}

/**
 * The matrix while the probe runs: cells whose task has landed as they will be in the report
 * (the coordinator's own buildCell on the task), the others with the phase their task is at.
 * `frame` turns the spinner; undefined draws "…" instead.
 */
export function liveMatrixView(state: LiveProbe, request: ProbeRequest, frame?: number): MatrixView {
  const planned = plannedGrid(state, request);
  const { ports } = planned;
  // A region whose every task came back UNKNOWN_REGION leaves the live matrix as it leaves the report's.
  const isUnknown = (region: string): boolean =>
    ports.length > 0 && ports.every((port) => state.tasks.get(cellKey(region, port))?.status === TaskStatus.TASK_STATUS_UNKNOWN_REGION);
  const regions = planned.regions.filter((region) => !isUnknown(region));
  const spin = frame === undefined ? "…" : (SPINNER[frame % SPINNER.length] ?? "…");
  return {
    regions,
    ports,
    // While the probe runs, one row per region: the cells change too fast to split.
    families: [],
    cell(region, port) {
      const key = cellKey(region, port);
      const task = state.tasks.get(key);
      if (task) return cellViewOf(buildCell(region, port, task).cell);
      const progress = state.progress.get(key);
      if (!progress) return { text: `${spin} waiting`, tone: "pending" };
      if (progress.queued) return { text: `${spin} queued at the agent`, tone: "pending" };
      return { text: `${spin} ${phaseLabel(progress.phase)}`, tone: "pending" };
    },
  };
}

const GAP = "   ";

/**
 * The matrix as lines: a header of ports, then one row per region (or per region and family:
 * "us-east  IPv4", "         IPv6"). Columns are padded on the plain text and coloured afterwards,
 * so escape sequences never upset the alignment. The live view gives a minimum cell width, so that
 * columns do not jump as the phases change.
 */
export function formatMatrix(view: MatrixView, style: Style, options: { minCellWidth?: number } = {}): string[] {
  const regionNames = view.regions.map(safe);
  const regionWidth = Math.max("region".length, ...regionNames.map((r) => r.length));
  const families: (AddressFamily | undefined)[] = view.families.length > 0 ? [...view.families] : [undefined];
  const familyWidth = Math.max(0, ...view.families.map((f) => familyName(f).length));
  const rows = view.regions.flatMap((region, i) =>
    families.map((family, j) => ({ region, label: j === 0 ? (regionNames[i] ?? "") : "", family })),
  );
  const columns = view.ports.map((port) => {
    const head = `port ${port}`;
    const cells = rows.map((row) => view.cell(row.region, port, row.family));
    return { head, cells, width: Math.max(head.length, options.minCellWidth ?? 0, ...cells.map((c) => c.text.length)) };
  });
  const lead = (region: string, family: AddressFamily | undefined): string[] =>
    familyWidth > 0 ? [region.padEnd(regionWidth), (family === undefined ? "" : familyName(family)).padEnd(familyWidth)] : [region.padEnd(regionWidth)];
  const [regionHead = "", familyHead] = lead("region", undefined);
  const header = [style.dim(regionHead), ...(familyHead === undefined ? [] : [familyHead]), ...columns.map((c, i) => style.bold(pad(c.head, c.width, i === columns.length - 1)))];
  const lines = [header.join(GAP).trimEnd()];
  rows.forEach((row, r) => {
    const cells = columns.map((column, i) => {
      const cell = column.cells[r] ?? { text: "", tone: "silent" as const };
      return paintCell(cell, pad(cell.text, column.width, i === columns.length - 1), style);
    });
    const [regionText = "", familyText] = lead(row.label, row.family);
    lines.push([style.bold(regionText), ...(familyText === undefined ? [] : [style.dim(familyText)]), ...cells].join(GAP).trimEnd());
  });
  return lines;
}

function pad(text: string, width: number, last: boolean): string {
  return last ? text : text.padEnd(width);
}

/** The mark in the cell's colour, the words plain (dim when there is no answer). */
function paintCell(cell: CellView, padded: string, style: Style): string {
  const [mark = "", ...rest] = Array.from(padded);
  const words = rest.join("");
  switch (cell.tone) {
    case "reached":
      return style.green(mark) + words;
    case "partial":
      return style.yellow(mark) + words;
    case "failed":
      return style.red(mark) + words;
    case "pending":
      return style.cyan(mark) + style.dim(words);
    default:
      return style.dim(padded);
  }
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
