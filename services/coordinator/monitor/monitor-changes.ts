// What a monitor's run saw in each region on each port — reachability, STARTTLS, the leaf
// certificate, the TLS version, the MTA-STS and DANE results, the certificate's days to expiry —
// and what changed since the run before, from what to what. Pure.
//
// Decisions:
// - A fact the run did not see is unknown, never a change: a region that gave no answer (no agent,
//   agent lost, timed out) keeps its facts of the run before and says so only as its reachability
//   ("no answer"); a handshake that stopped before TLS says nothing of the certificate; a region
//   not in this run's report (no longer planned) is kept as it was. So an agent lost and back is two
//   reachability changes, not a certificate going away and coming back.
// - A fact seen for the first time (the first run, the first run after an upgrade that kept no
//   facts, a region new to the monitor, a certificate first seen once the server came back) is
//   recorded without a change: there is nothing to say it changed from.
// - Several handshakes in a cell (several addresses, exchangers): a fact is the distinct values
//   they saw, sorted and joined with ", "; the days to expiry, the fewest.
// - Expiry: an event when the leaf's remaining time falls below a threshold of
//   EXPIRY_THRESHOLDS_DAYS it was not below at the run before (once per crossing; several crossed
//   at once are one change naming the lowest). A renewed certificate goes back above them without
//   an expiry change (its CERTIFICATE change says it), and the next approach crosses them again.
import { DaneStatus, type HandshakeResult, MtaStsMode, mtaStsModeToJSON, Outcome, PolicyResult } from "../../../gen/smtpprobe/v1/handshake.js";
import { type MonitorEvent, type RegionChange, RegionChangeKind } from "../../../gen/smtpprobe/v1/monitor.js";
import { CellState, cellStateToJSON, type ProbeReport } from "../../../gen/smtpprobe/v1/probe_service.js";
import { isCount } from "../stored-json.js";

/** What one region saw on one port; a field left out was not seen (kept from before). */
export interface PortFacts {
  region: string;
  port: number;
  reachability?: string;
  starttls?: string;
  certificate?: string;
  tlsVersion?: string;
  mtaSts?: string;
  dane?: string;
  daysToExpiry?: number;
}

type FactName = "reachability" | "starttls" | "certificate" | "tlsVersion" | "mtaSts" | "dane";

/** The facts compared as text, in the order their changes are listed. */
const TEXT_FACTS: readonly { name: FactName; kind: RegionChangeKind }[] = [
  { name: "reachability", kind: RegionChangeKind.REGION_CHANGE_KIND_REACHABILITY },
  { name: "starttls", kind: RegionChangeKind.REGION_CHANGE_KIND_STARTTLS },
  { name: "certificate", kind: RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE },
  { name: "tlsVersion", kind: RegionChangeKind.REGION_CHANGE_KIND_TLS_VERSION },
  { name: "mtaSts", kind: RegionChangeKind.REGION_CHANGE_KIND_MTA_STS },
  { name: "dane", kind: RegionChangeKind.REGION_CHANGE_KIND_DANE },
];

/** Days to expiry below which a certificate is said to near it; 0: expired. Highest first. */
export const EXPIRY_THRESHOLDS_DAYS: readonly number[] = [30, 14, 7, 1, 0];

/**
 * Region × port facts kept in a monitor's state at most: a monitor probes at most 8 ports, so this
 * is 32 regions each; beyond it, the regions this run did not plan are forgotten first.
 */
export const MAX_KEPT_FACTS = 256;
/** Distinct values of one fact in one cell named at most (8 fingerprints: under 800 characters); the rest counted. */
const MAX_JOINED_VALUES = 8;

/** Distinct values, sorted, joined (the first MAX_JOINED_VALUES, then how many more); undefined when none was seen. */
function joined(values: readonly (string | undefined)[]): string | undefined {
  const seen = [...new Set(values.filter((v): v is string => v !== undefined))].sort();
  if (seen.length === 0) return undefined;
  const more = seen.length - MAX_JOINED_VALUES;
  return seen.slice(0, MAX_JOINED_VALUES).join(", ") + (more > 0 ? ` and ${more} more` : "");
}

function starttlsOf(h: HandshakeResult): string | undefined {
  if (h.tls?.implicit) return "implicit TLS";
  if (!h.capabilities) return undefined; // stopped before EHLO was answered
  return h.capabilities.starttls ? "offered" : "not offered";
}

/** The leaf's fingerprint; "none" for a handshake that reached QUIT without TLS; unknown when it stopped before. */
function certificateOf(h: HandshakeResult): string | undefined {
  if (h.tls) return h.tls.chain[0]?.fingerprintSha256 || undefined;
  return h.outcome === Outcome.OUTCOME_OK ? "none" : undefined;
}

function tlsVersionOf(h: HandshakeResult): string | undefined {
  if (h.tls?.protocol) return h.tls.protocol;
  return h.outcome === Outcome.OUTCOME_OK && !h.tls ? "none" : undefined;
}

function modeText(mode: MtaStsMode): string {
  return mtaStsModeToJSON(mode).replace(/^MTA_STS_MODE_/, "").toLowerCase();
}

function mtaStsOf(h: HandshakeResult): string | undefined {
  const check = h.policyCheck;
  switch (check?.mtaSts) {
    case PolicyResult.POLICY_RESULT_PASS:
      return `pass (${modeText(check.mtaStsMode)})`;
    case PolicyResult.POLICY_RESULT_FAIL:
      return `fail (${modeText(check.mtaStsMode)})`;
    case PolicyResult.POLICY_RESULT_NOT_APPLICABLE:
      return "not applicable";
    default:
      return undefined; // no check, or the handshake did not get far enough to tell
  }
}

const DANE_TEXT: Readonly<Partial<Record<DaneStatus, string>>> = {
  [DaneStatus.DANE_STATUS_NO_RECORDS]: "no records",
  [DaneStatus.DANE_STATUS_INSECURE]: "insecure",
  [DaneStatus.DANE_STATUS_UNUSABLE]: "unusable",
  [DaneStatus.DANE_STATUS_LOOKUP_FAILED]: "lookup failed",
  [DaneStatus.DANE_STATUS_MX_INSECURE]: "mx insecure",
};

function daneOf(h: HandshakeResult): string | undefined {
  const dane = h.dane;
  if (!dane) return undefined;
  if (dane.status !== DaneStatus.DANE_STATUS_SECURE) return DANE_TEXT[dane.status];
  if (dane.result === PolicyResult.POLICY_RESULT_PASS) return "pass";
  if (dane.result === PolicyResult.POLICY_RESULT_FAIL) return "fail";
  return undefined;
}

function daysOf(h: HandshakeResult): number | undefined {
  return h.tls && h.tls.chain.length > 0 ? h.tls.daysToExpiry : undefined;
}

function reachabilityText(state: CellState): string {
  return cellStateToJSON(state).replace(/^CELL_STATE_/, "").toLowerCase().replaceAll("_", " ");
}

/** The facts without the fields left undefined: what was seen. */
function seenOnly(facts: PortFacts): PortFacts {
  return Object.fromEntries(Object.entries(facts).filter(([, value]) => value !== undefined)) as unknown as PortFacts;
}

/** The facts of each cell of the report's comparison (regions × ports), unseen ones left out. */
export function factsOf(report: ProbeReport): PortFacts[] {
  return (report.comparison?.cells ?? []).map((cell) => {
    const where = { region: cell.region, port: cell.port, reachability: reachabilityText(cell.state) };
    if (cell.state === CellState.CELL_STATE_NO_ANSWER) return where;
    const task = report.tasks.find((t) => t.region === cell.region && t.port === cell.port);
    const handshakes = task?.result?.handshakes ?? [];
    const days = handshakes.map(daysOf).filter((d): d is number => d !== undefined);
    return seenOnly({
      ...where,
      starttls: joined(handshakes.map(starttlsOf)),
      certificate: joined(handshakes.map(certificateOf)),
      tlsVersion: joined(handshakes.map(tlsVersionOf)),
      mtaSts: joined(handshakes.map(mtaStsOf)),
      dane: joined(handshakes.map(daneOf)),
      daysToExpiry: days.length > 0 ? Math.min(...days) : undefined,
    });
  });
}

/** How many thresholds the days are below. */
function expiryLevel(days: number): number {
  return EXPIRY_THRESHOLDS_DAYS.filter((t) => days < t).length;
}

function daysText(days: number): string {
  if (days < 0) return "expired";
  return days === 1 ? "1 day" : `${days} days`;
}

/** The lowest threshold `after` fell below that `before` was not below, or undefined. */
export function crossedExpiryThreshold(before: number, after: number): number | undefined {
  if (expiryLevel(after) <= expiryLevel(before)) return undefined;
  return Math.min(...EXPIRY_THRESHOLDS_DAYS.filter((t) => after < t));
}

const keyOf = (f: { region: string; port: number }): string => `${f.region}\u0000${f.port}`;

/**
 * The facts to keep after a run that saw `seen`, and what changed in them since `before` (the
 * facts kept at the run before; undefined: none were kept, and nothing is a change). Facts and
 * changes in region, then port order; changes of one cell in RegionChangeKind order.
 */
export function nextFacts(before: readonly PortFacts[] | undefined, seen: readonly PortFacts[]): { facts: PortFacts[]; changes: RegionChange[] } {
  const previous = new Map((before ?? []).map((f) => [keyOf(f), f]));
  const changes: RegionChange[] = [];
  const updated = new Map<string, PortFacts>();
  for (const now of seen) {
    const prev = previous.get(keyOf(now));
    updated.set(keyOf(now), { ...prev, ...seenOnly(now) });
    if (!prev) continue;
    const change = (kind: RegionChangeKind, from: string, to: string, thresholdDays = 0): void => {
      changes.push({ region: now.region, port: now.port, kind, before: from, after: to, thresholdDays });
    };
    for (const { name, kind } of TEXT_FACTS) {
      const from = prev[name];
      const to = now[name];
      if (from !== undefined && to !== undefined && from !== to) change(kind, from, to);
    }
    if (prev.daysToExpiry !== undefined && now.daysToExpiry !== undefined) {
      const threshold = crossedExpiryThreshold(prev.daysToExpiry, now.daysToExpiry);
      if (threshold !== undefined) change(RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, daysText(prev.daysToExpiry), daysText(now.daysToExpiry), threshold);
    }
  }
  // Cells this run did not plan are kept behind those it saw, as room allows.
  const kept = [...previous.entries()].filter(([key]) => !updated.has(key)).map(([, f]) => f);
  const facts = [...updated.values(), ...kept].slice(0, MAX_KEPT_FACTS);
  const order = (a: { region: string; port: number }, b: { region: string; port: number }): number => (a.region < b.region ? -1 : a.region > b.region ? 1 : a.port - b.port);
  facts.sort(order);
  changes.sort((a, b) => order(a, b) || a.kind - b.kind);
  return { facts, changes };
}

/** Whether an event changed anything: a verdict, or a region's fact. */
export function hasChanges(event: Pick<MonitorEvent, "changes" | "regionChanges">): boolean {
  return event.changes.length > 0 || event.regionChanges.length > 0;
}

const TEXT_FIELD_NAMES: readonly FactName[] = TEXT_FACTS.map((f) => f.name);
/** A stored fact's text is at most this long: more than `joined` writes. */
const MAX_STORED_TEXT = 2_048;

/**
 * The facts of a stored state: undefined when there are none (a state written before facts were
 * kept), entries that are not facts left out.
 */
export function decodeFacts(value: unknown): PortFacts[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const facts: PortFacts[] = [];
  for (const entry of value.slice(0, MAX_KEPT_FACTS)) {
    if (typeof entry !== "object" || entry === null) continue;
    const json = entry as Record<string, unknown>;
    if (typeof json.region !== "string" || !isCount(json.port)) continue;
    const fact: PortFacts = { region: json.region, port: json.port };
    for (const name of TEXT_FIELD_NAMES) {
      const text = json[name];
      if (typeof text === "string" && text.length <= MAX_STORED_TEXT) fact[name] = text;
    }
    if (typeof json.daysToExpiry === "number" && Number.isSafeInteger(json.daysToExpiry)) fact.daysToExpiry = json.daysToExpiry;
    facts.push(fact);
  }
  return facts;
}
