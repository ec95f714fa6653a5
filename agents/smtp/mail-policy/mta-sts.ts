// MTA-STS (RFC 8461) read from what the agent found: the _mta-sts TXT records and the policy text.
// The grammar and the matching are mailauth's (resolvePolicy, parsePolicy, validateMx, the library
// senders built on Node use); this module turns their answers into the report's words. Pure apart
// from mailauth's promise-shaped record reader, which is handed the records already resolved.
import { parsePolicy, resolvePolicy, validateMx } from "mailauth/lib/mta-sts.js";
import { MtaStsMode, MtaStsStatus, type MtaSts } from "../../../gen/smtpprobe/v1/handshake.js";

/** RFC 8461 §3.3: senders should not accept a policy over 64 KiB. */
export const MAX_POLICY_BYTES = 64 * 1024;
/** RFC 8461 §3.2: max_age at most 31557600 seconds (a year). */
export const MAX_AGE_LIMIT = 31_557_600;

const STS_PREFIX = /^v=STSv1[ \t]*;/i;

export function emptyMtaSts(): MtaSts {
  return {
    status: MtaStsStatus.MTA_STS_STATUS_UNSPECIFIED,
    reason: "",
    records: [],
    id: "",
    policyUrl: "",
    policyAddress: "",
    mode: MtaStsMode.MTA_STS_MODE_UNSPECIFIED,
    maxAge: 0,
    mxPatterns: [],
    syntaxWarnings: [],
    fetchMs: 0,
  };
}

export type StsRecordReading =
  | { kind: "none"; records: string[] }
  | { kind: "invalid"; records: string[]; reason: string }
  | { kind: "found"; records: string[]; id: string; warnings: string[] };

/**
 * The _mta-sts TXT records (each as its strings, as the resolver gives them): none, one usable, or
 * unusable. RFC 8461 §3.1: records not beginning "v=STSv1;" are ignored; more than one that does
 * means the domain has no usable policy.
 */
export async function readStsRecords(txt: readonly (readonly string[])[]): Promise<StsRecordReading> {
  const joined = txt.map((strings) => strings.join(""));
  const records = joined.filter((r) => STS_PREFIX.test(r.trim()));
  const resolver = (): Promise<string[][]> => Promise.resolve(txt.map((strings) => [...strings]));
  try {
    const strict = await resolvePolicy("policy.invalid", { resolver, strict: true });
    const lax = strict === false ? await resolvePolicy("policy.invalid", { resolver, strict: false }) : strict;
    if (lax === false) {
      return records.length === 0
        ? { kind: "none", records }
        : { kind: "invalid", records, reason: `the _mta-sts TXT record ${quote(records[0] ?? "")} has no valid id (RFC 8461 §3.1)` };
    }
    return { kind: "found", records, id: lax, warnings: strict === false ? ["txt-syntax"] : [] };
  } catch (error) {
    if ((error as { code?: string }).code === "multi_sts_records") {
      return { kind: "invalid", records, reason: `${records.length} _mta-sts TXT records begin v=STSv1; RFC 8461 §3.1 allows one, so senders treat the domain as having no policy` };
    }
    throw error;
  }
}

export type PolicyReading =
  | { ok: true; mode: MtaStsMode; maxAge: number; mx: string[]; warnings: string[] }
  | { ok: false; reason: string };

const MODES: Record<string, MtaStsMode> = {
  enforce: MtaStsMode.MTA_STS_MODE_ENFORCE,
  testing: MtaStsMode.MTA_STS_MODE_TESTING,
  none: MtaStsMode.MTA_STS_MODE_NONE,
};

/**
 * The policy text (RFC 8461 §3.2). Read strictly first; what only the lenient reading accepts
 * (field names in another case, "Enforce", a malformed mx pattern) is taken, as senders take it,
 * with a syntax warning.
 */
export function readPolicy(text: string): PolicyReading {
  const toReading = (p: { mode: string; maxAge?: number; mx?: string[] }, warnings: string[]): PolicyReading => ({
    ok: true,
    mode: MODES[p.mode] ?? MtaStsMode.MTA_STS_MODE_UNSPECIFIED,
    maxAge: p.maxAge ?? 0,
    mx: p.mx ?? [],
    warnings,
  });
  try {
    return toReading(parsePolicy(text, { strict: true }), []);
  } catch {
    try {
      return toReading(parsePolicy(text, { strict: false }), ["policy-syntax"]);
    } catch (error) {
      return { ok: false, reason: `the policy is malformed: ${policyError(error)}` };
    }
  }
}

function policyError(error: unknown): string {
  const code = (error as { code?: string }).code ?? "";
  const words: Record<string, string> = {
    invalid_sts_version: 'no "version: STSv1" line',
    invalid_sts_mode: 'no valid "mode" (enforce, testing or none)',
    invalid_sts_max_age: `no valid "max_age" (0 to ${MAX_AGE_LIMIT} seconds)`,
    invalid_sts_mx: 'no valid "mx" line (a mode other than none needs at least one)',
  };
  return words[code] ?? (error instanceof Error ? error.message : String(error));
}

/** Whether an exchanger's name matches one of the policy's mx patterns (RFC 8461 §4.1), and which. */
export function matchExchanger(exchanger: string, sts: Pick<MtaSts, "mode" | "mxPatterns">): { matches: boolean; pattern: string } {
  const mode = sts.mode === MtaStsMode.MTA_STS_MODE_TESTING ? "testing" : "enforce";
  const result = validateMx(exchanger, { mode, mx: [...sts.mxPatterns] });
  if (!result.valid) return { matches: false, pattern: "" };
  // mailauth names the match as the pattern's suffix for a wildcard (".example.net"), else the name.
  const match = result.match ?? "";
  const wanted = match.startsWith(".") ? `*${match}` : match;
  const pattern = sts.mxPatterns.find((p) => p.toLowerCase().replace(/\.$/, "") === wanted) ?? wanted;
  return { matches: true, pattern };
}

export function modeName(mode: MtaStsMode): string {
  switch (mode) {
    case MtaStsMode.MTA_STS_MODE_ENFORCE:
      return "enforce";
    case MtaStsMode.MTA_STS_MODE_TESTING:
      return "testing";
    case MtaStsMode.MTA_STS_MODE_NONE:
      return "none";
    default:
      return "unknown";
  }
}

/** Server text shown in a sentence: bounded, control characters escaped. */
export function quote(text: string, max = 120): string {
  const clean = text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return `"${clean.length > max ? `${clean.slice(0, max)}…` : clean}"`;
}
