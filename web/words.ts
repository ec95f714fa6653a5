// Names of enum values for people, from the generated names: "TASK_STATUS_NO_AGENT" → "no agent".
// Outcomes and phases have their own words, shared with the CLI (cli/labels.ts, agents/smtp/phases.ts).

/** The generated name without its prefix, lower case, underscores as spaces. */
export function enumWords(name: string, prefix: string): string {
  return name.startsWith(prefix) ? name.slice(prefix.length).toLowerCase().replace(/_/g, " ") : name.toLowerCase();
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "2026-12-04 20:47 UTC". */
export function formatDate(date: Date | undefined): string {
  if (!date || Number.isNaN(date.getTime())) return "unknown";
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
