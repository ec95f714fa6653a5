// A domain's SPF: the record and its include tree read through the check's lookup session, the
// DNS-querying terms counted over the whole tree, and the record evaluated by mailauth (RFC 7208)
// with the same session as its resolver, so every question goes to the agent's resolver and none
// is sent twice. Includes of one record are fetched at once: a cold check waits for the slowest
// chain, not the sum.
import { spf as mailauthSpf } from "mailauth/lib/spf/index.js";
import { SpfResult, type SpfEvaluation, type SpfPosture, type SpfRecordNode } from "../../gen/smtpprobe/v1/domain.js";
import { DnsLookupError, isEmptyAnswer } from "../dns/dns-errors.js";
import type { LookupSession } from "../dns/agent-resolver.js";
import { countQueryingTerms, hasMacro, parseSpfRecord, spfRecordsOf, spfTargets } from "./spf-record.js";

/** An address in TEST-NET-1 (RFC 5737): no published record lists it, so evaluating it walks every term. */
export const FULL_WALK_ADDRESS = "192.0.2.1";

export interface SpfCheckOptions {
  /** Records read at most (the tree's nodes). */
  maxNodes?: number;
  /** Addresses to evaluate the record for, besides the full walk (the MX addresses). */
  addresses?: readonly string[];
}

export async function checkSpf(domain: string, session: LookupSession, options: SpfCheckOptions = {}): Promise<SpfPosture> {
  const budget = { nodes: options.maxNodes ?? 40 };
  // The tree is read first: the evaluations then find every record in the agent's cache.
  const record = await readNode(domain, "", [], session, budget);
  const [fullWalk, ...evaluations] = await Promise.all(
    [FULL_WALK_ADDRESS, ...(options.addresses ?? [])].map((address) => evaluateSpf(domain, address, session)),
  );
  return { record, dnsLookups: countTree(record), voidLookups: fullWalk!.voidLookups, fullWalk, evaluations };
}

/** DNS-querying terms of the tree: every record reached, each term once (RFC 7208 §4.6.4). */
export function countTree(node: SpfRecordNode): number {
  return countQueryingTerms(node.terms) + node.children.reduce((sum, child) => sum + countTree(child), 0);
}

async function readNode(
  domain: string,
  via: string,
  ancestors: readonly string[],
  session: LookupSession,
  budget: { nodes: number },
): Promise<SpfRecordNode> {
  const node: SpfRecordNode = { domain, via, record: "", terms: [], children: [], error: "" };
  const key = domain.toLowerCase().replace(/\.$/, "");
  if (ancestors.includes(key)) return { ...node, error: `loop: ${[...ancestors, key].join(" → ")}` };
  if (budget.nodes <= 0) return { ...node, error: "not read: the check reads at most 40 records of one tree" };
  budget.nodes -= 1;
  let txt: string[][];
  try {
    txt = await session.resolve(domain, "TXT");
  } catch (error) {
    if (!(error instanceof DnsLookupError)) throw error;
    if (!isEmptyAnswer(error.code)) return { ...node, error: error.message };
    txt = [];
  }
  const records = spfRecordsOf(txt);
  if (records.length === 0) return { ...node, error: "no SPF record" };
  if (records.length > 1) return { ...node, record: records.join(" | "), error: `${records.length} SPF records (RFC 7208 §4.5: a permerror)` };
  const parsed = parseSpfRecord(records[0]!);
  const children = await Promise.all(
    spfTargets(parsed.terms).map(({ via: how, domain: target }) =>
      hasMacro(target)
        ? Promise.resolve<SpfRecordNode>({ domain: target, via: how, record: "", terms: [], children: [], error: "a macro: read only when a message is evaluated" })
        : readNode(target, how, [...ancestors, key], session, budget),
    ),
  );
  return { ...node, record: records[0]!, terms: parsed.terms, children, error: parsed.errors.join("; ") };
}

const RESULTS: Record<string, SpfResult> = {
  none: SpfResult.SPF_RESULT_NONE,
  neutral: SpfResult.SPF_RESULT_NEUTRAL,
  pass: SpfResult.SPF_RESULT_PASS,
  fail: SpfResult.SPF_RESULT_FAIL,
  softfail: SpfResult.SPF_RESULT_SOFTFAIL,
  temperror: SpfResult.SPF_RESULT_TEMPERROR,
  permerror: SpfResult.SPF_RESULT_PERMERROR,
};

/** mailauth's evaluation of the domain's record for one address, as if the domain's postmaster sent from it. */
export async function evaluateSpf(domain: string, address: string, session: LookupSession): Promise<SpfEvaluation> {
  const answer = await mailauthSpf({
    sender: `postmaster@${domain}`,
    ip: address,
    helo: domain,
    mta: "smtp-probe",
    // mailauth types its resolver as returning strings; MX answers are objects, as from Node.
    resolver: session.asMailauthResolver as (name: string, rrtype: string) => Promise<string[]>,
  });
  const result = RESULTS[answer.status.result] ?? SpfResult.SPF_RESULT_UNSPECIFIED;
  return {
    address,
    result,
    explanation: typeof answer.status.comment === "string" ? answer.status.comment.replace(/^smtp-probe: /, "") : "",
    dnsLookups: answer.lookups?.count ?? 0,
    // mailauth counts the lookup of the record itself when it finds nothing; that is no term
    // (RFC 7208 §4.6.4 counts terms), and Mail::SPF does not count it: without a record, none.
    voidLookups: result === SpfResult.SPF_RESULT_NONE ? 0 : (answer.lookups?.void ?? 0),
  };
}
