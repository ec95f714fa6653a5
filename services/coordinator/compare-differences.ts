// What differs between the regions that reached a port: STARTTLS, certificate, banner host,
// capabilities, TLS version, with the TLS scan the versions (and cipher grades) accepted, and what a
// sender honouring the mail domain's MTA-STS, or validating DANE, does from each region. Pure.
import {
  AddressFamily,
  type Capabilities,
  CipherGrade,
  DaneStatus,
  type HandshakeResult,
  MtaStsMode,
  MtaStsStatus,
  Outcome,
  PolicyResult,
  Severity,
  type TlsProfile,
  TlsScanStatus,
  VersionSupport,
} from "../../gen/smtpprobe/v1/handshake.js";
import { versionLabel } from "../../agents/smtp/tls-scan/tls-registry.js";
import { type PortVerdict, type RegionCause, VerdictKind } from "../../gen/smtpprobe/v1/probe_service.js";
import { familyOf } from "./compare-cells.js";
import { familyName } from "./compare-partial.js";
import { compareText, listJoin, phraseJoin, quoteServerText } from "./compare-text.js";

/** A region that reached the port, with its handshakes. */
export interface ReachedRegion {
  readonly region: string;
  readonly handshakes: readonly HandshakeResult[];
}

/** One region's handshake with one server (the host, or one MX exchanger). */
interface Entry {
  readonly region: string;
  readonly h: HandshakeResult;
}

/** The servers compared: per exchanger (one for a host) and address family, reached by several regions. */
interface Unit {
  /** The exchanger's name, empty for a host. */
  readonly exchange: string;
  readonly family: AddressFamily;
  /** Named in the sentence ("Port 25 (IPv6)") when the verdict holds on this family only. */
  readonly showFamily: boolean;
  readonly entries: readonly Entry[];
}

/** Regions that saw the same value, in the order the regions were given. */
interface Group {
  readonly key: string;
  /** The value as the first region of the group saw it, for a sentence. */
  readonly label: string;
  /** The value in full, for the per-region causes. */
  readonly detail: string;
  readonly regions: string[];
}

interface Value {
  readonly key: string;
  readonly label: string;
  readonly detail?: string;
}

/**
 * Like with like. A region's cell may hold several addresses, of several exchangers and both
 * families, and only some of them reached. The rule: regions are compared per exchanger (the host,
 * without MX) and per address family, each region with the first handshake of that exchanger and
 * family that reached QUIT, and only where at least two regions reached it: mx1 from one region
 * and mx2 from another, or IPv4 from one and IPv6 from another, may be different machines and is no
 * difference. Addresses within a family are not matched one to one: regions may resolve a name to
 * different addresses, and another server behind the same name is exactly what the verdicts are
 * for. Exchangers in preference order, then by name; IPv4 before IPv6.
 */
function unitsOf(reached: readonly ReachedRegion[]): Unit[] {
  const byServer = new Map<string, { exchange: string; family: AddressFamily; preference: number; entries: Entry[] }>();
  for (const { region, handshakes } of reached) {
    const seen = new Set<string>();
    for (const h of handshakes) {
      const family = familyOf(h.address);
      const key = `${h.exchange}\u0000${family}`;
      if (h.outcome !== Outcome.OUTCOME_OK || seen.has(key)) continue;
      seen.add(key);
      const unit = byServer.get(key) ?? { exchange: h.exchange, family, preference: h.mxPreference, entries: [] };
      unit.preference = Math.min(unit.preference, h.mxPreference);
      unit.entries.push({ region, h });
      byServer.set(key, unit);
    }
  }
  const units = [...byServer.values()]
    .filter((unit) => unit.entries.length >= 2)
    .sort((a, b) => a.preference - b.preference || compareText(a.exchange, b.exchange) || a.family - b.family);
  // The family is named only where an exchanger is compared on both.
  const families = new Map<string, number>();
  for (const u of units) families.set(u.exchange, (families.get(u.exchange) ?? 0) + 1);
  return units.map((u) => ({ exchange: u.exchange, family: u.family, showFamily: (families.get(u.exchange) ?? 0) > 1, entries: u.entries }));
}

/** Groups entries by a value; entries without one (undefined) take no part. */
function groupBy(entries: readonly Entry[], valueOf: (h: HandshakeResult) => Value | undefined): Group[] {
  const groups = new Map<string, Group>();
  for (const { region, h } of entries) {
    const value = valueOf(h);
    if (!value) continue;
    const group = groups.get(value.key);
    if (group) group.regions.push(region);
    else groups.set(value.key, { key: value.key, label: value.label, detail: value.detail ?? value.label, regions: [region] });
  }
  return [...groups.values()];
}

/** The group most regions share (a tie goes to the group of the earliest region), and the others. */
function splitMajority(groups: readonly Group[]): { reference: Group; others: Group[] } | undefined {
  if (groups.length < 2) return undefined;
  let reference = groups[0] as Group;
  for (const g of groups) if (g.regions.length > reference.regions.length) reference = g;
  return { reference, others: groups.filter((g) => g !== reference) };
}

function where(port: number, unit: Unit): string {
  const names = [unit.exchange ? quoteServerText(unit.exchange) : "", unit.showFamily ? familyName(unit.family) : ""].filter(Boolean);
  return names.length > 0 ? `Port ${port} (${names.join(", ")})` : `Port ${port}`;
}

function verdict(
  port: number,
  kind: VerdictKind,
  severity: Severity,
  regions: string[],
  causes: RegionCause[],
  summary: string,
): PortVerdict {
  return { port, kind, regions, causes, summary, severity, failedAddresses: [] };
}

/** "X from us-east and eu-west but Y from ap-south and Z from sa-east". */
function contrast(reference: Group, others: readonly Group[]): string {
  const rest = phraseJoin(others.map((g) => `${g.label} from ${listJoin(g.regions)}`));
  return `${reference.label} from ${listJoin(reference.regions)} but ${rest}`;
}

function minorityCauses(others: readonly Group[], cause: (g: Group) => string): RegionCause[] {
  return others.flatMap((g) => g.regions.map((region) => ({ region, cause: cause(g) })));
}

function starttlsVerdict(port: number, unit: Unit): PortVerdict | undefined {
  // Only where EHLO ran in plaintext: implicit TLS has no STARTTLS to strip.
  const groups = groupBy(unit.entries, (h) =>
    h.capabilities
      ? h.capabilities.starttls
        ? { key: "offered", label: "offered" }
        : { key: "missing", label: h.capabilities.heloOnly ? "STARTTLS not offered (EHLO refused, HELO only)" : "STARTTLS not offered" }
      : undefined,
  );
  const offered = groups.find((g) => g.key === "offered");
  const missing = groups.find((g) => g.key === "missing");
  if (!offered || !missing) return undefined;
  const cause = missing.label;
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_STARTTLS_DIFFERS,
    Severity.SEVERITY_ERROR,
    [...missing.regions],
    missing.regions.map((region) => ({ region, cause })),
    `${where(port, unit)}: STARTTLS is offered from ${listJoin(offered.regions)} but not from ${listJoin(missing.regions)}: ` +
      `possible STARTTLS stripping on the path from ${listJoin(missing.regions)}.`,
  );
}

function shortFingerprint(fingerprint: string): string {
  const bytes = fingerprint.split(":");
  return bytes.length > 4 ? `${bytes.slice(0, 4).join(":")}…` : fingerprint;
}

function certificateVerdict(port: number, unit: Unit): PortVerdict | undefined {
  const groups = groupBy(unit.entries, (h) => {
    const leaf = h.tls?.chain[0];
    if (!leaf?.fingerprintSha256) return undefined;
    const key = leaf.fingerprintSha256.toUpperCase();
    // Hex and colons, as the agent writes it; anything else is not echoed.
    const shown = key.replace(/[^0-9A-F:]/g, "?");
    const subject = leaf.subject ? `${quoteServerText(leaf.subject)} ` : "";
    return { key, label: `${subject}(SHA-256 ${shortFingerprint(shown)})`, detail: `${subject}(SHA-256 ${shown})` };
  });
  const split = splitMajority(groups);
  if (!split) return undefined;
  const { reference, others } = split;
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_CERTIFICATE_DIFFERS,
    Severity.SEVERITY_WARNING,
    others.flatMap((g) => g.regions),
    minorityCauses(others, (g) => `certificate ${g.detail}, not ${reference.detail}`),
    `${where(port, unit)}: the certificate is ${contrast(reference, others)}: ` +
      "TLS interception, or geo-routing to other servers.",
  );
}

/** The host name a banner starts with (RFC 5321 §4.2: "220 domain text"). */
function bannerHost(h: HandshakeResult): Value | undefined {
  const word = h.banner?.lines[0]?.trim().split(/\s+/)[0];
  if (!word) return undefined;
  return { key: word.toLowerCase().replace(/\.$/, ""), label: quoteServerText(word) };
}

function bannerVerdict(port: number, unit: Unit): PortVerdict | undefined {
  const split = splitMajority(groupBy(unit.entries, bannerHost));
  if (!split) return undefined;
  const { reference, others } = split;
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_BANNER_DIFFERS,
    Severity.SEVERITY_INFO,
    others.flatMap((g) => g.regions),
    minorityCauses(others, (g) => `banner host ${g.label}, not ${reference.label}`),
    `${where(port, unit)}: the banner names ${contrast(reference, others)}: geo-routing or interception.`,
  );
}

function tlsVersionVerdict(port: number, unit: Unit): PortVerdict | undefined {
  const split = splitMajority(
    groupBy(unit.entries, (h) => (h.tls?.protocol ? { key: h.tls.protocol, label: quoteServerText(h.tls.protocol) } : undefined)),
  );
  if (!split) return undefined;
  const { reference, others } = split;
  const odd = others.flatMap((g) => g.regions);
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_TLS_VERSION_DIFFERS,
    Severity.SEVERITY_WARNING,
    odd,
    minorityCauses(others, (g) => `${g.label}, not ${reference.label}`),
    `${where(port, unit)}: TLS is negotiated as ${contrast(reference, others)}: ` +
      `another server, or a middlebox terminating TLS, on the path from ${listJoin(odd)}.`,
  );
}

/**
 * What the TLS scan found a sender can negotiate: the versions accepted, and with `grades` the
 * versions whose weakest accepted suite is WEAK or INSECURE. A profile with a version left unknown
 * (a bound, the throttle) compares with nothing: an untested version is no difference.
 */
function acceptedProfile(profile: TlsProfile | undefined, grades: boolean): Value | undefined {
  if (!profile || profile.status === TlsScanStatus.TLS_SCAN_STATUS_NOT_SCANNED) return undefined;
  if (profile.versions.length === 0 || profile.versions.some((v) => v.support !== VersionSupport.VERSION_SUPPORT_ACCEPTED && v.support !== VersionSupport.VERSION_SUPPORT_REFUSED)) return undefined;
  const accepted = profile.versions.filter((v) => v.support === VersionSupport.VERSION_SUPPORT_ACCEPTED).sort((a, b) => a.version - b.version);
  const versions = accepted.length > 0 ? listJoin(accepted.map((v) => versionLabel(v.version))) : "no TLS version";
  // The weakest accepted suite's grade of each version, read once for the label and the key.
  const worst = accepted.map((v) => ({ version: v.version, grade: grades ? Math.max(0, ...v.ciphers.map((c) => c.grade)) : undefined }));
  const weak = worst.flatMap(({ version, grade }) => {
    if (grade === CipherGrade.CIPHER_GRADE_INSECURE) return [`insecure suites in ${versionLabel(version)}`];
    return grade === CipherGrade.CIPHER_GRADE_WEAK ? [`weak suites in ${versionLabel(version)}`] : [];
  });
  const label = weak.length > 0 ? `${versions} (${listJoin(weak)})` : versions;
  const key = worst.map(({ version, grade }) => `${version}:${grade ?? ""}`).join(",");
  return { key, label };
}

function tlsProfileVerdict(port: number, unit: Unit): PortVerdict | undefined {
  // Grades compare only where every region's scan tried every suite; versions wherever each is known.
  const grades = unit.entries.every((e) => e.h.tlsProfile?.status === TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
  const split = splitMajority(groupBy(unit.entries, (h) => acceptedProfile(h.tlsProfile, grades)));
  if (!split) return undefined;
  const { reference, others } = split;
  const odd = others.flatMap((g) => g.regions);
  const sees = [reference, ...others].map((g) => `a sender in ${listJoin(g.regions)} can negotiate ${g.label}`);
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_TLS_PROFILE_DIFFERS,
    Severity.SEVERITY_WARNING,
    odd,
    minorityCauses(others, (g) => `${g.label}, not ${reference.label}`),
    `${where(port, unit)}: the TLS scan differs between regions: ${phraseJoin(sees)}: ` +
      `a middlebox that terminates or filters TLS, or another server, on the path from ${listJoin(odd)}.`,
  );
}

/**
 * What a sender honouring the domain's MTA-STS does with this exchanger from the region: deliver,
 * refuse (enforce), deliver and report (testing), or deliver with opportunistic TLS because no
 * usable policy reached it. A handshake without a policy check, or that never reached TLS, takes
 * no part. The key is the action; the label, the first region's reason.
 */
function senderUnderPolicy(h: HandshakeResult): (Value & { refuses: boolean }) | undefined {
  const check = h.policyCheck;
  if (!check) return undefined;
  // The agent's sentence, which quotes names the domain controls: escaped, and bounded.
  const reason = quoteServerText(check.mtaStsReason, 300);
  const enforce = check.mtaStsMode === MtaStsMode.MTA_STS_MODE_ENFORCE;
  switch (check.mtaSts) {
    case PolicyResult.POLICY_RESULT_PASS:
      return { key: `pass:${check.mtaStsMode}`, label: `would deliver (MTA-STS ${enforce ? "enforce" : "testing"} passes)`, refuses: false };
    case PolicyResult.POLICY_RESULT_FAIL:
      return enforce
        ? { key: "fail:enforce", label: `would not deliver (MTA-STS enforce: ${reason})`, refuses: true }
        : { key: "fail:testing", label: `would deliver and report a failure (MTA-STS testing: ${reason})`, refuses: false };
    case PolicyResult.POLICY_RESULT_NOT_APPLICABLE: {
      const why =
        check.mtaStsStatus === MtaStsStatus.MTA_STS_STATUS_INVALID
          ? "the policy could not be had there"
          : check.mtaStsStatus === MtaStsStatus.MTA_STS_STATUS_DNS_FAILED
            ? "the _mta-sts lookup failed there"
            : check.mtaStsStatus === MtaStsStatus.MTA_STS_STATUS_NOT_PUBLISHED
              ? "no policy is published as seen from there"
              : "the policy's mode is none";
      return { key: `none:${check.mtaStsStatus}`, label: `would deliver with opportunistic TLS, unchecked (${why})`, refuses: false };
    }
    default:
      return undefined;
  }
}

function mtaStsVerdict(port: number, unit: Unit): PortVerdict | undefined {
  const refusing = new Set<string>();
  const split = splitMajority(
    groupBy(unit.entries, (h) => {
      const value = senderUnderPolicy(h);
      if (value?.refuses) refusing.add(value.key);
      return value;
    }),
  );
  if (!split) return undefined;
  const { reference, others } = split;
  const odd = others.flatMap((g) => g.regions);
  const domain = quoteServerText(unit.entries.find((e) => e.h.policyCheck?.domain)?.h.policyCheck?.domain ?? "the domain");
  const does = [reference, ...others].map((g) => `from ${listJoin(g.regions)} it ${g.label}`);
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_MTA_STS_DIFFERS,
    [reference, ...others].some((g) => refusing.has(g.key)) ? Severity.SEVERITY_ERROR : Severity.SEVERITY_WARNING,
    odd,
    minorityCauses(others, (g) => g.label),
    `${where(port, unit)}: a sender honouring ${domain}'s MTA-STS acts differently by region: ${phraseJoin(does)}: ` +
      `a middlebox presenting another certificate or blocking the policy host, or another server, on the path from ${listJoin(odd)}.`,
  );
}

/** What a sender validating DANE does with this exchanger from the region, by the TLSA answer and the certificate seen there. */
function senderUnderDane(h: HandshakeResult): (Value & { refuses: boolean }) | undefined {
  const dane = h.dane;
  if (!dane) return undefined;
  const reason = quoteServerText(dane.reason, 300);
  switch (dane.status) {
    case DaneStatus.DANE_STATUS_SECURE:
      if (dane.result === PolicyResult.POLICY_RESULT_PASS) return { key: "pass", label: `would deliver (${reason})`, refuses: false };
      if (dane.result === PolicyResult.POLICY_RESULT_FAIL) return { key: "fail", label: `would not deliver (${reason})`, refuses: true };
      return undefined;
    case DaneStatus.DANE_STATUS_LOOKUP_FAILED:
      return { key: "lookup-failed", label: `would defer the mail (the TLSA lookup failed there: ${reason})`, refuses: true };
    case DaneStatus.DANE_STATUS_INSECURE:
      return { key: "insecure", label: "would not use DANE (the TLSA answer was not authenticated there)", refuses: false };
    case DaneStatus.DANE_STATUS_UNUSABLE:
      return { key: "unusable", label: "would require TLS but check no certificate (no usable TLSA record there)", refuses: false };
    case DaneStatus.DANE_STATUS_NO_RECORDS:
      return { key: "none", label: "would not use DANE (no TLSA records seen there)", refuses: false };
    case DaneStatus.DANE_STATUS_MX_INSECURE:
      return { key: "mx-insecure", label: "would not use DANE (the MX answer was not authenticated there)", refuses: false };
    default:
      return undefined;
  }
}

function daneVerdict(port: number, unit: Unit): PortVerdict | undefined {
  const refusing = new Set<string>();
  const split = splitMajority(
    groupBy(unit.entries, (h) => {
      const value = senderUnderDane(h);
      if (value?.refuses) refusing.add(value.key);
      return value;
    }),
  );
  if (!split) return undefined;
  const { reference, others } = split;
  const odd = others.flatMap((g) => g.regions);
  const does = [reference, ...others].map((g) => `from ${listJoin(g.regions)} it ${g.label}`);
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_DANE_DIFFERS,
    [reference, ...others].some((g) => refusing.has(g.key)) ? Severity.SEVERITY_ERROR : Severity.SEVERITY_WARNING,
    odd,
    minorityCauses(others, (g) => g.label),
    `${where(port, unit)}: a sender validating DANE acts differently by region: ${phraseJoin(does)}: ` +
      `a middlebox presenting another certificate, a resolver that answers otherwise, or another server, on the path from ${listJoin(odd)}.`,
  );
}

/** EHLO keywords as comparable words; STARTTLS left out (its own verdict says it). */
function capabilityWords(c: Capabilities): string[] {
  const words: string[] = [];
  if (c.size !== undefined) words.push(c.size > 0 ? `SIZE ${c.size}` : "SIZE");
  if (c.pipelining) words.push("PIPELINING");
  if (c.eightBitMime) words.push("8BITMIME");
  if (c.smtputf8) words.push("SMTPUTF8");
  if (c.chunking) words.push("CHUNKING");
  if (c.dsn) words.push("DSN");
  if (c.enhancedStatusCodes) words.push("ENHANCEDSTATUSCODES");
  if (c.requiretls) words.push("REQUIRETLS");
  for (const m of c.authMechanisms) words.push(`AUTH ${m.toUpperCase()}`);
  // RFC 5321 §2.4: keywords are case-insensitive.
  for (const o of c.other) words.push(quoteServerText(o.trim().replace(/\s+/g, " ").toUpperCase()));
  return [...new Set(words)].sort(compareText);
}

const MAX_LISTED_WORDS = 4;

function capabilitiesVerdict(port: number, unit: Unit): PortVerdict | undefined {
  // Like with like: over TLS when every region has EHLO over TLS, else the plaintext EHLO, so a
  // region without TLS (see the STARTTLS verdict) is not compared with the others' TLS keywords.
  const overTls = unit.entries.every((e) => e.h.capabilitiesTls);
  const pick = (h: HandshakeResult): Capabilities | undefined => (overTls ? h.capabilitiesTls : h.capabilities);
  const wordsOf = new Map<string, Set<string>>();
  const groups = groupBy(unit.entries, (h) => {
    const caps = pick(h);
    if (!caps) return undefined;
    const words = capabilityWords(caps);
    const key = words.join("\n");
    wordsOf.set(key, new Set(words));
    return { key, label: words.join(" · ") };
  });
  const split = splitMajority(groups);
  if (!split) return undefined;
  const { reference, others } = split;
  const considered = groups.flatMap((g) => g.regions);
  const allWords = [...new Set(groups.flatMap((g) => [...(wordsOf.get(g.key) ?? [])]))].sort(compareText);
  const differing = allWords.flatMap((word) => {
    const having = groups.filter((g) => wordsOf.get(g.key)?.has(word)).flatMap((g) => g.regions);
    if (having.length === considered.length) return [];
    const lacking = considered.filter((r) => !having.includes(r));
    return [`${word} is offered from ${listJoin(having)} but not from ${listJoin(lacking)}`];
  });
  const listed = differing.slice(0, MAX_LISTED_WORDS);
  if (differing.length > listed.length) listed.push(`${differing.length - listed.length} more`);
  const refWords = wordsOf.get(reference.key) ?? new Set<string>();
  const causeFor = (g: Group): string => {
    const words = wordsOf.get(g.key) ?? new Set<string>();
    const without = [...refWords].filter((w) => !words.has(w));
    const extra = [...words].filter((w) => !refWords.has(w));
    return [without.length ? `without ${without.join(", ")}` : "", extra.length ? `with ${extra.join(", ")}` : ""]
      .filter(Boolean)
      .join("; ");
  };
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_CAPABILITIES_DIFFER,
    Severity.SEVERITY_INFO,
    others.flatMap((g) => g.regions),
    minorityCauses(others, causeFor),
    `${where(port, unit)}: the EHLO capabilities ${overTls ? "over TLS" : "before TLS"} differ between regions: ${phraseJoin(listed)}.`,
  );
}

/** With the posture option: the PTR names of the address reached (forward-confirmed or not). */
function reverseDnsVerdict(port: number, unit: Unit): PortVerdict | undefined {
  const split = splitMajority(
    groupBy(unit.entries, (h) => {
      const r = h.addressPosture?.reverseDns;
      if (!r || (r.ptrNames.length === 0 && r.error !== "" && !/^no PTR record/.test(r.error))) return undefined;
      const names = [...r.ptrNames].sort(compareText);
      const label = names.length === 0 ? "no PTR name" : `${names.map((name) => quoteServerText(name)).join(", ")}${r.forwardConfirmed ? "" : " (not forward-confirmed)"}`;
      return { key: `${names.join(",")}|${r.forwardConfirmed}`, label };
    }),
  );
  if (!split) return undefined;
  const { reference, others } = split;
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_REVERSE_DNS_DIFFERS,
    Severity.SEVERITY_INFO,
    others.flatMap((g) => g.regions),
    minorityCauses(others, (g) => `reverse DNS ${g.label}, not ${reference.label}`),
    `${where(port, unit)}: the reverse DNS of the server reached is ${contrast(reference, others)}: other servers, or resolvers that answer differently.`,
  );
}

/** With the posture option: the blocklists that list the address reached (those that answered). */
function blocklistVerdict(port: number, unit: Unit): PortVerdict | undefined {
  const split = splitMajority(
    groupBy(unit.entries, (h) => {
      const lists = h.addressPosture?.blocklists.filter((b) => b.error === "");
      if (!lists || lists.length === 0) return undefined;
      const listed = lists.filter((b) => b.listed).map((b) => b.zone).sort(compareText);
      return { key: listed.join(","), label: listed.length === 0 ? "listed nowhere" : `listed in ${listed.map((zone) => quoteServerText(zone)).join(", ")}` };
    }),
  );
  if (!split) return undefined;
  const { reference, others } = split;
  return verdict(
    port,
    VerdictKind.VERDICT_KIND_BLOCKLIST_DIFFERS,
    Severity.SEVERITY_WARNING,
    others.flatMap((g) => g.regions),
    minorityCauses(others, (g) => `${g.label}, not ${reference.label}`),
    `${where(port, unit)}: the server reached is ${contrast(reference, others)}: other servers, or blocklist answers that differ by resolver.`,
  );
}

const RULES: readonly ((port: number, unit: Unit) => PortVerdict | undefined)[] = [
  starttlsVerdict,
  certificateVerdict,
  bannerVerdict,
  capabilitiesVerdict,
  tlsVersionVerdict,
  tlsProfileVerdict,
  mtaStsVerdict,
  daneVerdict,
  reverseDnsVerdict,
  blocklistVerdict,
];

/**
 * The differences between the regions that reached a port, kind by kind (STARTTLS, certificate,
 * banner host, capabilities, TLS version, TLS profile), and within a kind exchanger by exchanger. Where an
 * exchanger differs the same way on both families (the same regions, the same causes), one
 * verdict says so without naming a family.
 */
export function differenceVerdicts(port: number, reached: readonly ReachedRegion[]): PortVerdict[] {
  const units = unitsOf(reached);
  return RULES.flatMap((rule) => {
    const found = units.flatMap((unit) => {
      const v = rule(port, unit);
      return v ? [{ unit, v }] : [];
    });
    return found.flatMap(({ unit, v }, i) => {
      const twin = found.findIndex((f) => f.unit.exchange === unit.exchange && f.unit.family !== unit.family);
      const other = found[twin];
      if (!other || !sameFacts(other.v, v)) return [v];
      // The same on both families: one verdict, without a family, in the place of the first.
      return twin > i ? [rule(port, { ...unit, showFamily: false }) ?? v] : [];
    });
  });
}

function sameFacts(a: PortVerdict, b: PortVerdict): boolean {
  return a.kind === b.kind && JSON.stringify([a.regions, a.causes]) === JSON.stringify([b.regions, b.causes]);
}
