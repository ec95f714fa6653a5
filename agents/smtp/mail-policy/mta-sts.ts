// MTA-STS (RFC 8461) read from what the agent found: the _mta-sts TXT records and the policy text.
// The reading is mailauth's (resolvePolicy, parsePolicy: the lenient reading senders built on Node
// use), the mx matching our own (matchExchanger); whether a record or a policy also follows the RFC's grammar
// to the letter is checked here (STRICT_RECORD, strictPolicy), so that what only lenient senders
// accept gets a syntax note. Pure apart from mailauth's promise-shaped record reader, which is
// handed the records already resolved.
import { domainToASCII } from "node:url";
import { parsePolicy, resolvePolicy } from "mailauth/lib/mta-sts.js";
import { MtaStsMode, MtaStsStatus, type MtaSts } from "../../../gen/smtpprobe/v1/handshake.js";
import { escapeLine } from "../transcript.js";

/** RFC 8461 §3.3: senders should not accept a policy over 64 KiB. */
export const MAX_POLICY_BYTES = 64 * 1024;
/** RFC 8461 §3.2: max_age at most 31557600 seconds (a year). */
export const MAX_AGE_LIMIT = 31_557_600;

const STS_PREFIX = /^v=STSv1[ \t]*;/i;
/**
 * RFC 8461 §3.1, case-sensitive: "v=STSv1", then fields ("id=" 1 to 32 letters and digits, or an
 * extension), each after a ";" with optional white space, and an optional ";" at the end.
 */
const STRICT_RECORD =
  /^v=STSv1(?:[ \t]*;[ \t]*(?:id=[A-Za-z0-9]{1,32}|(?!id=)[A-Za-z0-9][A-Za-z0-9_.-]{0,31}=[\x21-\x3a\x3c\x3e-\x7e]+))+(?:[ \t]*;)?[ \t]*$/;
const POLICY_LINE = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,31}):[ \t]*(.*?)[ \t]*$/;
const STRICT_VALUES: Record<string, RegExp> = {
  version: /^STSv1$/,
  mode: /^(?:testing|enforce|none)$/,
  max_age: /^\d{1,10}$/,
  mx: /^(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/,
};

/** RFC 8461 §3.2 to the letter: "key: value" lines, the known keys in lower case with valid values, each required key once. */
function strictPolicy(text: string): boolean {
  const seen = new Map<string, number>();
  for (const line of text.split(/\r?\n/)) {
    if (line === "") continue;
    const m = POLICY_LINE.exec(line);
    if (!m) return false;
    const [, key = "", value = ""] = m;
    const rule = STRICT_VALUES[key];
    if (!rule && STRICT_VALUES[key.toLowerCase()]) return false;
    if (rule && !rule.test(value)) return false;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return ["version", "mode", "max_age"].every((key) => seen.get(key) === 1);
}

/** A "mode" line, in any case: mailauth reads a policy without one as mode none, RFC 8461 §3.2 requires it. */
const HAS_MODE = /^[ \t]*mode[ \t]*:/im;

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
    const lax = await resolvePolicy("policy.invalid", { resolver });
    if (lax === false) {
      return records.length === 0
        ? { kind: "none", records }
        : { kind: "invalid", records, reason: `the _mta-sts TXT record ${quote(records[0] ?? "")} has no valid id (RFC 8461 §3.1)` };
    }
    const strict = records.length === 1 && STRICT_RECORD.test(records[0] ?? "");
    return { kind: "found", records, id: lax, warnings: strict ? [] : ["txt-syntax"] };
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
 * The policy text (RFC 8461 §3.2), read as senders read it; what only that lenient reading accepts
 * (field names in another case, "Enforce", a malformed mx pattern) is taken with a syntax warning.
 */
export function readPolicy(text: string): PolicyReading {
  const toReading = (p: { mode: string; maxAge?: number; mx?: string[] }, warnings: string[]): PolicyReading => ({
    ok: true,
    mode: MODES[p.mode] ?? MtaStsMode.MTA_STS_MODE_UNSPECIFIED,
    maxAge: p.maxAge ?? 0,
    mx: p.mx ?? [],
    warnings,
  });
  if (!HAS_MODE.test(text)) return { ok: false, reason: `the policy is malformed: ${policyError({ code: "invalid_sts_mode" })}` };
  try {
    return toReading(parsePolicy(text), strictPolicy(text) ? [] : ["policy-syntax"]);
  } catch (error) {
    return { ok: false, reason: `the policy is malformed: ${policyError(error)}` };
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

/** A host name as RFC 8461 §4.1 compares it: A-labels, lower case, no final dot. */
function comparable(name: string): string {
  const trimmed = name.trim().replace(/\.$/, "");
  return (domainToASCII(trimmed) || trimmed).toLowerCase();
}

/**
 * Whether an exchanger's name matches one of the policy's mx patterns (RFC 8461 §4.1), and which:
 * a name matches itself; "*.example.net" matches one more label on the left only (a.example.net,
 * not a.b.example.net nor example.net). Written here rather than taken from mailauth 4, whose
 * validateMx lets a wildcard match any depth and keeps a final dot.
 */
export function matchExchanger(exchanger: string, sts: Pick<MtaSts, "mxPatterns">): { matches: boolean; pattern: string } {
  const name = comparable(exchanger);
  for (const pattern of sts.mxPatterns) {
    const wanted = comparable(pattern);
    if (wanted.startsWith("*.")) {
      const suffix = wanted.slice(1);
      const label = name.endsWith(suffix) ? name.slice(0, -suffix.length) : "";
      if (label !== "" && !label.includes(".")) return { matches: true, pattern };
    } else if (wanted === name) {
      return { matches: true, pattern };
    }
  }
  return { matches: false, pattern: "" };
}

/** Server text shown in a sentence: bounded, control characters escaped. */
export function quote(text: string, max = 120): string {
  const clean = escapeLine(text);
  return `"${clean.length > max ? `${clean.slice(0, max)}…` : clean}"`;
}
