// A domain's DMARC: the record at _dmarc.<domain>, else at its organisational domain (RFC 7489
// §6.6.3; the public suffix list is tldts's, as mailauth uses it), and for each report address in
// another organisational domain whether that domain agrees to receive the reports (RFC 7489 §7.1:
// a "v=DMARC1" TXT record at <policy domain>._report._dmarc.<destination>).
import { getDomain } from "tldts";
import type { DmarcPosture, DmarcReportUri } from "../../gen/smtpprobe/v1/domain.js";
import { DnsLookupError, isEmptyAnswer } from "../dns/dns-errors.js";
import type { LookupSession } from "../dns/agent-resolver.js";
import { dmarcRecordsOf, parseDmarcRecord, type ReportUri } from "./dmarc-record.js";

/** Private suffixes too (blogspot.com, ...), as mailauth reads them. */
const PSL_OPTIONS = { allowIcannDomains: true, allowPrivateDomains: true };

/** The organisational domain (RFC 7489 §3.2): the public suffix and one label more. */
export function organizationalDomain(domain: string): string {
  return getDomain(domain, PSL_OPTIONS) ?? domain;
}

type Lookup = { records: string[] } | { error: string };

async function lookupDmarc(domain: string, session: LookupSession): Promise<Lookup> {
  try {
    return { records: dmarcRecordsOf(await session.resolve(`_dmarc.${domain}`, "TXT")) };
  } catch (error) {
    if (!(error instanceof DnsLookupError)) throw error;
    return isEmptyAnswer(error.code) ? { records: [] } : { error: error.message };
  }
}

export async function checkDmarc(domain: string, session: LookupSession): Promise<DmarcPosture> {
  const orgDomain = organizationalDomain(domain);
  const posture: DmarcPosture = {
    record: "",
    recordDomain: "",
    organizationalDomain: orgDomain,
    inherited: false,
    policy: "",
    subdomainPolicy: "",
    pct: 0,
    adkim: "",
    aspf: "",
    rua: [],
    ruf: [],
    error: "",
  };
  let policyDomain = domain;
  let found = await lookupDmarc(domain, session);
  // RFC 7489 §6.6.3: no record (not a failure to ask) at the domain: the organisational domain's.
  if ("records" in found && found.records.length === 0 && orgDomain !== domain) {
    policyDomain = orgDomain;
    found = await lookupDmarc(orgDomain, session);
    posture.inherited = true;
  }
  if ("error" in found) return { ...posture, error: found.error };
  if (found.records.length === 0) return { ...posture, inherited: false, error: "no DMARC record" };
  posture.recordDomain = `_dmarc.${policyDomain}`;
  if (found.records.length > 1) {
    return { ...posture, record: found.records.join(" | "), error: `${found.records.length} DMARC records: none applies (RFC 7489 §6.6.3)` };
  }
  const record = found.records[0]!;
  const parsed = parseDmarcRecord(record);
  const [rua, ruf] = await Promise.all([
    reportUris(parsed.rua, policyDomain, session),
    reportUris(parsed.ruf, policyDomain, session),
  ]);
  return {
    ...posture,
    record,
    policy: parsed.policy,
    subdomainPolicy: parsed.subdomainPolicy,
    pct: parsed.pct,
    adkim: parsed.adkim,
    aspf: parsed.aspf,
    rua,
    ruf,
    error: parsed.errors.join("; "),
  };
}

async function reportUris(uris: readonly ReportUri[], policyDomain: string, session: LookupSession): Promise<DmarcReportUri[]> {
  const policyOrg = organizationalDomain(policyDomain);
  return Promise.all(
    uris.map(async ({ uri, domain }) => {
      const external = domain !== "" && organizationalDomain(domain) !== policyOrg;
      if (!external) return { uri, domain, external, authorized: false };
      let authorized = false;
      try {
        const txt = await session.resolve(`${policyDomain}._report._dmarc.${domain}`, "TXT");
        authorized = dmarcRecordsOf(txt).length > 0;
      } catch (error) {
        if (!(error instanceof DnsLookupError)) throw error;
      }
      return { uri, domain, external, authorized };
    }),
  );
}
