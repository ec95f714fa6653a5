// The scan's facts as the result reports them (TlsProfile): each version with its suites graded
// by the catalogue, the groups by name, the chains per key type where they differ, and a status
// that says what was left untried and why. Pure.
import { X509Certificate } from "node:crypto";
import {
  CipherGrade,
  TlsScanStatus,
  VersionSupport,
  type Certificate,
  type KeyTypeChain,
  type TlsCipher,
  type TlsProfile,
  type TlsVersion,
  type TlsVersionProfile,
} from "../../../gen/smtpprobe/v1/handshake.js";
import { describeCertificate } from "../certificate-facts.js";
import { gradeOf, suiteByCode, suiteName } from "./cipher-catalogue.js";
import type { ScanFacts, VersionFacts } from "./scan-plan.js";
import { groupName, versionLabel } from "./tls-registry.js";

export function buildTlsProfile(facts: ScanFacts, totalMs: number): TlsProfile {
  const versions = facts.versions.map(versionProfile);
  const gaps = [
    ...facts.versions.filter((v) => v.support === "unknown").map((v) => `${versionLabel(v.version)} unknown (${v.detail})`),
    ...facts.versions.filter((v) => v.support === "accepted" && !v.complete).map((v) => `the cipher suites of ${versionLabel(v.version)} not all tried`),
    ...(facts.groupsComplete ? [] : ["the groups not all tried"]),
  ];
  const reason = [facts.stopped ? `stopped: ${facts.stopped}` : "", gaps.join("; ")].filter(Boolean).join("; ");
  return {
    status: reason ? TlsScanStatus.TLS_SCAN_STATUS_PARTIAL : TlsScanStatus.TLS_SCAN_STATUS_COMPLETE,
    reason,
    versions,
    groups: facts.groups.map((code) => ({ codePoint: code, name: groupName(code) })),
    groupsComplete: facts.groupsComplete,
    cipherOrder: facts.order,
    cipherOrderVersion: facts.orderVersion,
    chains: chainsThatDiffer(facts.chains),
    dhePrimeBits: facts.dhePrimeBits,
    connections: facts.connections,
    totalMs,
  };
}

/** A profile for a port that was not scanned, and why. */
export function notScanned(reason: string): TlsProfile {
  return {
    status: TlsScanStatus.TLS_SCAN_STATUS_NOT_SCANNED,
    reason,
    versions: [],
    groups: [],
    groupsComplete: false,
    cipherOrder: 0,
    cipherOrderVersion: 0,
    chains: [],
    dhePrimeBits: 0,
    connections: 0,
    totalMs: 0,
  };
}

const SUPPORT: Readonly<Record<VersionFacts["support"], VersionSupport>> = {
  accepted: VersionSupport.VERSION_SUPPORT_ACCEPTED,
  refused: VersionSupport.VERSION_SUPPORT_REFUSED,
  unknown: VersionSupport.VERSION_SUPPORT_UNKNOWN,
};

function versionProfile(facts: VersionFacts): TlsVersionProfile {
  return {
    version: facts.version,
    support: SUPPORT[facts.support],
    detail: facts.detail,
    ciphers: facts.ciphers.map((code) => gradedCipher(code, facts.version)),
    ciphersComplete: facts.complete,
  };
}

/** A suite as the result shows it: IANA name, grade, weaknesses worst first, the worst in words. */
export function gradedCipher(code: number, version: TlsVersion): TlsCipher {
  const suite = suiteByCode(code);
  if (!suite) return { codePoint: code, name: suiteName(code), grade: CipherGrade.CIPHER_GRADE_UNSPECIFIED, weaknesses: [], reason: "not in the catalogue" };
  const graded = gradeOf(suite, version);
  return {
    codePoint: code,
    name: suite.name,
    grade: graded.grade,
    weaknesses: graded.weaknesses.map((w) => w.code),
    reason: graded.weaknesses[0]?.reason ?? "",
  };
}

/** Every key type's chain, but only when two key types got different leaves. */
function chainsThatDiffer(chains: Map<string, Buffer[]>): KeyTypeChain[] {
  const described = [...chains.entries()]
    .map(([keyType, ders]) => ({ keyType, chain: describeChain(ders) }))
    .filter((c) => c.chain.length > 0)
    .sort((a, b) => (a.keyType < b.keyType ? -1 : a.keyType > b.keyType ? 1 : 0));
  const leaves = new Set(described.map((c) => c.chain[0]!.fingerprintSha256));
  return leaves.size >= 2 ? described : [];
}

function describeChain(ders: Buffer[]): Certificate[] {
  const out: Certificate[] = [];
  for (const der of ders.slice(0, 16)) {
    try {
      out.push(describeCertificate(new X509Certificate(der)));
    } catch {
      break; // a certificate this Node cannot parse: the chain as far as it can be read
    }
  }
  return out;
}
