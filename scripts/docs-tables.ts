// The documentation's generated tables: every configuration variable of both processes in one
// table (docs/configuration.md), and every metric (docs/operations.md). `npm run docs` writes them
// between their markers; test/unit/generated-docs.test.ts fails when a page and the code disagree,
// so neither can drift.
import { AGENT_SETTINGS } from "../agents/probe/settings.js";
import type { Setting, Settings } from "../lib/config.js";
import { METRIC_DOCS } from "../lib/metrics.js";
import { COORDINATOR_SETTINGS } from "../services/coordinator/settings.js";

export interface GeneratedSection {
  /** `<!-- generated:NAME (npm run docs) -->` … `<!-- /generated:NAME -->` in its page. */
  name: string;
  content: string;
}

const cell = (text: string): string => text.replace(/\|/g, "\\|");

/** One row per variable; where the two commands describe it differently, both descriptions. */
export function settingsTable(processes: Record<string, Settings>): string {
  const names = Object.keys(processes);
  const rows = new Map<string, { setting: Setting<unknown>; by: Map<string, Setting<unknown>> }>();
  for (const [process, settings] of Object.entries(processes)) {
    for (const setting of Object.values(settings)) {
      const row = rows.get(setting.env) ?? { setting, by: new Map() };
      row.by.set(process, setting);
      rows.set(setting.env, row);
    }
  }
  const header = `| variable | flag | default | ${names.join(" | ")} | meaning |`;
  const rule = `|---|---|---|${names.map(() => "---|").join("")}---|`;
  const body = [...rows.values()].map(({ setting, by }) => {
    const descriptions = new Set([...by.values()].map((s) => s.description));
    const meaning =
      descriptions.size === 1 ? setting.description : [...by.entries()].map(([process, s]) => `${process}: ${s.description}`).join("; ");
    const defaults = new Set([...by.values()].map((s) => s.default ?? ""));
    const defaultText = defaults.size === 1 ? (setting.default ?? "") : [...by.entries()].map(([process, s]) => `${process}: ${s.default ?? "none"}`).join("; ");
    const flag = `\`${setting.flag}${setting.placeholder ? ` ${setting.placeholder}` : ""}\``;
    return `| \`${setting.env}\` | ${flag} | ${cell(defaultText)} | ${names.map((n) => (by.has(n) ? "✔" : "")).join(" | ")} | ${cell(meaning)} |`;
  });
  return [header, rule, ...body].join("\n");
}

export function metricsTable(): string {
  const rows = METRIC_DOCS.map((m) => `| \`${m.name}\` | ${m.type} | ${m.labels.map((l) => `\`${l}\``).join(", ")} | ${cell(m.help)} |`);
  return ["| metric | type | labels | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

/** A page of docs/ and the generated sections it holds. */
export interface GeneratedPage {
  /** Relative to the repository root. */
  path: string;
  sections: GeneratedSection[];
}

export function generatedPages(): GeneratedPage[] {
  return [
    { path: "docs/configuration.md", sections: [{ name: "settings", content: settingsTable({ coordinator: COORDINATOR_SETTINGS, agent: AGENT_SETTINGS }) }] },
    { path: "docs/operations.md", sections: [{ name: "metrics", content: metricsTable() }] },
  ];
}

/** The page's text with each of its generated sections replaced; throws when a marker is missing. */
export function renderPage(text: string, page: GeneratedPage): string {
  let out = text;
  for (const { name, content } of page.sections) {
    const begin = `<!-- generated:${name} (npm run docs) -->`;
    const end = `<!-- /generated:${name} -->`;
    const from = out.indexOf(begin);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`${page.path} has no "${begin}" … "${end}" section`);
    out = `${out.slice(0, from + begin.length)}\n${content}\n${out.slice(to)}`;
  }
  return out;
}
