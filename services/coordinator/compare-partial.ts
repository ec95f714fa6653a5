// Words for a cell that reached some addresses (or MX exchangers) and failed on others: the
// matrix's short cause ("v4 ok, v6 refused", "1 of 3 ok, 2 refused") and the parts of a verdict's
// sentence ("on IPv4 (127.0.0.1)", "IPv6 (::1) is refused"). Pure.
import { AddressFamily } from "../../gen/smtpprobe/v1/handshake.js";
import type { AddressCell } from "../../gen/smtpprobe/v1/probe_service.js";
import { boundedListJoin, phraseJoin, quoteServerText } from "./compare-text.js";

/** A failed address with how it failed, as a sentence says it after "is": "refused", "rejected at the banner with 554". */
export interface FailedAddress {
  readonly cell: AddressCell;
  readonly howPhrase: string;
}

const FAMILY_NAMES: Readonly<Record<number, string>> = {
  [AddressFamily.ADDRESS_FAMILY_IPV4]: "IPv4",
  [AddressFamily.ADDRESS_FAMILY_IPV6]: "IPv6",
};

const FAMILY_SHORT: Readonly<Record<number, string>> = {
  [AddressFamily.ADDRESS_FAMILY_IPV4]: "v4",
  [AddressFamily.ADDRESS_FAMILY_IPV6]: "v6",
};

export function familyName(family: AddressFamily): string {
  return FAMILY_NAMES[family] ?? "";
}

/**
 * The families, when the line between reached and failed is exactly one of family: every address
 * reached is of one family, every one that failed of the other (and none failed before it had an
 * address). Then a person reads "IPv6 is refused" rather than a list of addresses.
 */
export function familySplit(
  reached: readonly AddressCell[],
  failed: readonly AddressCell[],
): { ok: AddressFamily; bad: AddressFamily } | undefined {
  const families = (cells: readonly AddressCell[]): Set<AddressFamily> => new Set(cells.map((c) => c.family));
  const ok = [...families(reached)];
  const bad = [...families(failed)];
  if (ok.length !== 1 || bad.length !== 1) return undefined;
  const [okFamily, badFamily] = [ok[0] as AddressFamily, bad[0] as AddressFamily];
  if (!FAMILY_NAMES[okFamily] || !FAMILY_NAMES[badFamily] || okFamily === badFamily) return undefined;
  return { ok: okFamily, bad: badFamily };
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/**
 * A partial cell in a few words for the matrix: "v4 ok, v6 refused" when one family failed and the
 * other answered, else "1 of 3 ok, 1 refused, 1 dropped" (causes in the order met).
 */
export function partialCause(reached: readonly AddressCell[], failed: readonly AddressCell[]): string {
  const split = familySplit(reached, failed);
  if (split) return `${FAMILY_SHORT[split.ok]} ok, ${FAMILY_SHORT[split.bad]} ${unique(failed.map((c) => c.cause)).join(", ")}`;
  const counts = new Map<string, number>();
  for (const c of failed) counts.set(c.cause, (counts.get(c.cause) ?? 0) + 1);
  const failures = [...counts].map(([cause, n]) => `${n} ${cause}`);
  return [`${reached.length} of ${reached.length + failed.length} ok`, ...failures].join(", ");
}

/** Whether the addresses came through MX: exchangers are then named, not only addresses. */
function isThroughMx(cells: readonly AddressCell[]): boolean {
  return cells.some((c) => c.exchange !== "");
}

/**
 * What a partial cell reached, and what failed how, as parts of a sentence:
 * `{ reached: "on IPv4 (127.0.0.1)", failed: "IPv6 (::1) is refused" }`, or through MX
 * `{ reached: "through mx2.example.test", failed: "mx1.example.test (192.0.2.1) is refused" }`.
 * Addresses of one name (or one family) that failed the same way are named together.
 */
export function describePartial(reached: readonly AddressCell[], failed: readonly FailedAddress[]): { reached: string; failed: string; mx: boolean } {
  const mx = isThroughMx([...reached, ...failed.map((f) => f.cell)]);
  const split = familySplit(
    reached,
    failed.map((f) => f.cell),
  );
  let reachedText: string;
  if (mx) {
    reachedText = `through ${boundedListJoin(unique(reached.map((c) => quoteServerText(c.exchange))))}${split ? ` over ${familyName(split.ok)}` : ""}`;
  } else {
    const addresses = boundedListJoin(unique(reached.map((c) => quoteServerText(c.address))));
    reachedText = split ? `on ${familyName(split.ok)} (${addresses})` : `on ${addresses}`;
  }

  // Items: what failed, one per (name or family, how); then items grouped by how.
  const items = new Map<string, { name: string; addresses: string[]; howPhrase: string }>();
  for (const { cell, howPhrase } of failed) {
    const name = mx ? `${quoteServerText(cell.exchange)}${split ? ` over ${familyName(split.bad)}` : ""}` : split ? familyName(split.bad) : "";
    const key = `${name}\u0000${howPhrase}`;
    const item = items.get(key) ?? { name, addresses: [], howPhrase };
    if (cell.address) item.addresses.push(quoteServerText(cell.address));
    else if (!mx && !split) item.addresses.push(quoteServerText(cell.host));
    items.set(key, item);
  }
  const byHow = new Map<string, { labels: string[]; count: number }>();
  for (const item of items.values()) {
    const addresses = unique(item.addresses);
    const listed = boundedListJoin(addresses);
    // A name or a family is one subject ("IPv6 (a and b) is"); bare addresses are each one ("a and b are").
    const label = item.name ? (listed ? `${item.name} (${listed})` : item.name) : listed;
    const group = byHow.get(item.howPhrase) ?? { labels: [], count: 0 };
    group.labels.push(label);
    group.count += item.name ? 1 : addresses.length;
    byHow.set(item.howPhrase, group);
  }
  const failedText = phraseJoin(
    [...byHow].map(([howPhrase, { labels, count }]) => `${boundedListJoin(labels)} ${count > 1 ? "are" : "is"} ${howPhrase}`),
  );
  return { reached: reachedText, failed: failedText, mx };
}
