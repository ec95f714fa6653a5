// A mail domain's transport-security policy as one region sees it: the _mta-sts and _smtp._tls TXT
// records through the agent's resolver, and the MTA-STS policy over HTTPS from the agent's network.
// A record or a server that misbehaves is data in the result, never an exception.
import { MtaStsStatus, TlsRptStatus, type MailPolicy, type MtaSts, type TlsRpt } from "../../../gen/smtpprobe/v1/handshake.js";
import { emptyMtaSts, readPolicy, readStsRecords } from "./mta-sts.js";
import { fetchPolicyText, type PolicyFetchContext } from "./policy-fetch.js";
import { domainFindings } from "./policy-findings.js";
import { emptyTlsRpt, readTlsRpt } from "./tls-rpt.js";

export interface MailPolicyContext extends Omit<PolicyFetchContext, "resolveAddresses"> {
  resolveTxt(name: string): Promise<string[][]>;
  resolveAddresses(host: string): Promise<string[]>;
}

export async function lookupMailPolicy(domain: string, context: MailPolicyContext): Promise<MailPolicy> {
  const start = performance.now();
  const [mtaSts, tlsRpt] = await Promise.all([lookupMtaSts(domain, context), lookupTlsRpt(domain, context)]);
  const policy: MailPolicy = { domain, mtaSts, tlsRpt, findings: [], totalMs: performance.now() - start };
  policy.findings = domainFindings(policy);
  return policy;
}

async function lookupMtaSts(domain: string, context: MailPolicyContext): Promise<MtaSts> {
  const sts = emptyMtaSts();
  let txt: string[][];
  try {
    txt = await context.resolveTxt(`_mta-sts.${domain}`);
  } catch (error) {
    return { ...sts, status: MtaStsStatus.MTA_STS_STATUS_DNS_FAILED, reason: errorText(error) };
  }
  const record = await readStsRecords(txt);
  sts.records = record.records;
  if (record.kind === "none") return { ...sts, status: MtaStsStatus.MTA_STS_STATUS_NOT_PUBLISHED };
  if (record.kind === "invalid") return { ...sts, status: MtaStsStatus.MTA_STS_STATUS_INVALID, reason: record.reason };
  sts.id = record.id;
  sts.syntaxWarnings = [...record.warnings];
  const fetched = await fetchPolicyText(domain, context);
  sts.policyUrl = fetched.url;
  sts.policyAddress = fetched.address;
  sts.fetchMs = fetched.ms;
  if (!fetched.ok) return { ...sts, status: MtaStsStatus.MTA_STS_STATUS_INVALID, reason: `the record is published but the policy cannot be had: ${fetched.reason}` };
  sts.syntaxWarnings.push(...fetched.warnings);
  const read = readPolicy(fetched.text);
  if (!read.ok) return { ...sts, status: MtaStsStatus.MTA_STS_STATUS_INVALID, reason: read.reason };
  sts.syntaxWarnings.push(...read.warnings);
  return { ...sts, status: MtaStsStatus.MTA_STS_STATUS_VALID, mode: read.mode, maxAge: read.maxAge, mxPatterns: read.mx.slice(0, 32) };
}

async function lookupTlsRpt(domain: string, context: MailPolicyContext): Promise<TlsRpt> {
  try {
    return readTlsRpt(await context.resolveTxt(`_smtp._tls.${domain}`));
  } catch (error) {
    return { ...emptyTlsRpt(), status: TlsRptStatus.TLS_RPT_STATUS_DNS_FAILED, reason: errorText(error) };
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
