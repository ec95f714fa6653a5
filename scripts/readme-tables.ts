// The README's generated tables: every configuration variable of both processes in one table, and
// every metric. `npm run docs` writes them between their markers; test/unit/readme.test.ts fails
// when the README and the code disagree, so neither can drift.
import { AGENT_SETTINGS } from "../agents/probe/settings.js";
import type { Setting, Settings } from "../lib/config.js";
import { METRIC_DOCS } from "../lib/metrics.js";
import { COORDINATOR_SETTINGS } from "../services/coordinator/settings.js";

export interface GeneratedSection {
  /** `<!-- generated:NAME -->` … `<!-- /generated:NAME -->` in README.md. */
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

export function generatedSections(): GeneratedSection[] {
  return [
    { name: "settings", content: settingsTable({ coordinator: COORDINATOR_SETTINGS, agent: AGENT_SETTINGS }) },
    { name: "metrics", content: metricsTable() },
  ];
}

/** The README with every generated section replaced; throws when a marker is missing. */
export function renderReadme(readme: string, sections: readonly GeneratedSection[] = generatedSections()): string {
  let out = readme;
  for (const { name, content } of sections) {
    const begin = `<!-- generated:${name} (npm run docs) -->`;
    const end = `<!-- /generated:${name} -->`;
    const from = out.indexOf(begin);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README.md has no "${begin}" … "${end}" section`);
    out = `${out.slice(0, from + begin.length)}\n${content}\n${out.slice(to)}`;
  }
  return out;
}
