// The region × port matrix on the page: the CLI's own view of it (cli/format-matrix.ts: the same
// words for every cell, live from the events and final from the report's comparison) drawn as a
// table. A cell whose task has landed links to that task's details below.
import type { AddressFamily } from "../gen/smtpprobe/v1/handshake.js";
import { AddressFamily as Family } from "../gen/smtpprobe/v1/handshake.js";
import type { MatrixView } from "../cli/format-matrix.js";
import { h } from "./dom.js";

/** The id of a task's details: region names are safe tokens (lower-case letters, digits, hyphens). */
export function taskAnchor(region: string, port: number): string {
  return `task-${region}-${port}`;
}

const FAMILY_NAMES: Partial<Record<AddressFamily, string>> = { [Family.ADDRESS_FAMILY_IPV4]: "IPv4", [Family.ADDRESS_FAMILY_IPV6]: "IPv6" };

/** The matrix as a table; `linked(region, port)`: whether that cell has details to link to. */
export function matrixTable(view: MatrixView, caption: string, linked: (region: string, port: number) => boolean): HTMLTableElement {
  const head = h("tr", {}, h("th", { attrs: { scope: "col" } }, "Region"), ...view.ports.map((port) => h("th", { attrs: { scope: "col" } }, `port ${port}`)));
  const rows: HTMLTableRowElement[] = [];
  for (const region of view.regions) {
    const families: (AddressFamily | undefined)[] = view.families.length > 0 ? [...view.families] : [undefined];
    for (const family of families) {
      const label = family === undefined ? region : `${region} ${FAMILY_NAMES[family] ?? ""}`;
      const cells = view.ports.map((port) => {
        const cell = view.cell(region, port, family);
        const content = linked(region, port) ? h("a", { href: `#${taskAnchor(region, port)}` }, cell.text) : cell.text;
        return h("td", { className: `tone-${cell.tone}` }, content);
      });
      rows.push(h("tr", {}, h("th", { attrs: { scope: "row" } }, label), ...cells));
    }
  }
  return h("table", { className: "matrix" }, h("caption", { className: "hint" }, caption), h("thead", {}, head), h("tbody", {}, ...rows));
}
