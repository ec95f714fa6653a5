// Small text helpers for the regional comparison's sentences and matrix cells. Pure.

/** "a", "a and b", "a, b and c". */
export function listJoin(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? "";
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/**
 * Phrases that may contain "and" themselves: "dropped from a and b, and refused from c" — the
 * serial comma keeps the groups apart when one of them lists several names.
 */
export function phraseJoin(phrases: readonly string[]): string {
  if (phrases.length <= 1 || !phrases.some((p) => p.includes(" and "))) return listJoin(phrases);
  return `${phrases.slice(0, -1).join(", ")}, and ${phrases[phrases.length - 1]}`;
}

/** "port 25" or "ports 25 and 587". */
export function portsText(ports: readonly number[]): string {
  return `${ports.length === 1 ? "port" : "ports"} ${listJoin(ports.map(String))}`;
}

/** A duration for a matrix cell: "3.4 ms", "120 ms", "2.35 s", "12.0 s". */
export function formatCellMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

const MAX_QUOTED = 64;

/**
 * Text a server chose (a banner word, a certificate subject, an EHLO keyword) made fit for a
 * sentence: controls shown as escapes, length bounded, so a hostile server cannot forge lines in a
 * summary or make it arbitrarily long.
 */
export function quoteServerText(text: string, max = MAX_QUOTED): string {
  const escaped = text.replace(/[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

/** Code-point order, independent of the locale: the same input gives the same output anywhere. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const MAX_LISTED = 4;

/** listJoin, with at most four items named: "a, b, c, d and 2 more". */
export function boundedListJoin(items: readonly string[], max: number = MAX_LISTED): string {
  if (items.length <= max) return listJoin(items);
  return `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}
