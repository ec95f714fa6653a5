// The region × port matrix for people: rows are regions, columns ports, each cell "✔ 120 ms
// TLSv1.3", "✖ refused", "– no agent" (describeCell, the coordinator's own words), or while a probe
// runs the phase a task is at. Pure: text in, text out; colour through a Style.
import { CellState, type MatrixCell, type ProbeReport, type ProbeRequest } from "../gen/smtpprobe/v1/probe_service.js";
import { buildCell } from "../services/coordinator/compare-cells.js";
import { describeCell } from "../services/coordinator/compare.js";
import type { Style } from "./colors.js";
import { phaseLabel } from "../agents/smtp/phases.js";
import { safe } from "./labels.js";
import { cellKey, plannedGrid, type LiveProbe } from "./live-probe.js";

/** How a cell is coloured: reached (green), failed (red), no answer (dim), still running (cyan). */
export type CellTone = "reached" | "failed" | "silent" | "pending";

export interface CellView {
  /** Plain text, no colour: "✔ 120 ms TLSv1.3". */
  text: string;
  tone: CellTone;
}

export interface MatrixView {
  regions: readonly string[];
  ports: readonly number[];
  cell(region: string, port: number): CellView;
}

export const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** A final cell, in the words of describeCell. */
export function cellViewOf(cell: MatrixCell): CellView {
  const tone: CellTone =
    cell.state === CellState.CELL_STATE_REACHED ? "reached" : cell.state === CellState.CELL_STATE_NO_ANSWER || cell.state === CellState.CELL_STATE_UNSPECIFIED ? "silent" : "failed";
  return { text: safe(describeCell(cell)), tone };
}

/** The matrix of a finished report: its comparison's cells, regions as planned, ports as requested. */
export function reportMatrixView(report: ProbeReport): MatrixView {
  const cells = report.comparison?.cells ?? [];
  const byKey = new Map(cells.map((c) => [cellKey(c.region, c.port), c]));
  const regions = unique([...report.regions, ...cells.map((c) => c.region)]);
  const ports = unique([...(report.request?.ports ?? []), ...cells.map((c) => c.port)]);
  return {
    regions,
    ports,
    cell(region, port) {
      const cell = byKey.get(cellKey(region, port));
      return cell ? cellViewOf(cell) : { text: "– no report", tone: "silent" };
    },
  };
}

/**
 * The matrix while the probe runs: cells whose task has landed as they will be in the report
 * (the coordinator's own buildCell on the task), the others with the phase their task is at.
 * `frame` turns the spinner; undefined draws "…" instead.
 */
export function liveMatrixView(state: LiveProbe, request: ProbeRequest, frame?: number): MatrixView {
  const { regions, ports } = plannedGrid(state, request);
  const spin = frame === undefined ? "…" : (SPINNER[frame % SPINNER.length] ?? "…");
  return {
    regions,
    ports,
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
 * The matrix as lines: a header of ports, then one row per region. Columns are padded on the
 * plain text and coloured afterwards, so escape sequences never upset the alignment. The live view
 * gives a minimum cell width, so that columns do not jump as the phases change.
 */
export function formatMatrix(view: MatrixView, style: Style, options: { minCellWidth?: number } = {}): string[] {
  const regionNames = view.regions.map(safe);
  const regionWidth = Math.max("region".length, ...regionNames.map((r) => r.length));
  const columns = view.ports.map((port) => {
    const head = `port ${port}`;
    const cells = view.regions.map((region) => view.cell(region, port));
    return { head, cells, width: Math.max(head.length, options.minCellWidth ?? 0, ...cells.map((c) => c.text.length)) };
  });
  const header = [style.dim("region".padEnd(regionWidth)), ...columns.map((c, i) => style.bold(pad(c.head, c.width, i === columns.length - 1)))];
  const lines = [header.join(GAP).trimEnd()];
  regionNames.forEach((region, row) => {
    const cells = columns.map((column, i) => {
      const cell = column.cells[row] ?? { text: "", tone: "silent" as const };
      return paintCell(cell, pad(cell.text, column.width, i === columns.length - 1), style);
    });
    lines.push([style.bold(region.padEnd(regionWidth)), ...cells].join(GAP).trimEnd());
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
