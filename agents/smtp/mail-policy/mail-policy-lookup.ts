// A mail domain's transport-security policy as one region sees it: the _mta-sts and _smtp._tls TXT
// records through the agent's resolver, the MTA-STS policy over HTTPS from the agent's network, and
// each exchanger's TLSA records with the AD flag (agents/dns/secure-query.ts). The findings come
// once everything is in (policy-findings.ts).
// A record or a server that misbehaves is data in the result, never an exception.
import { MtaStsStatus, TlsRptStatus, type MailPolicy, type MtaSts, type TlsaLookup, type TlsRpt } from "../../../gen/smtpprobe/v1/handshake.js";
import { SecureQueryError, secureQuery } from "../../dns/secure-query.js";
import { readTlsaAnswer, tlsaName } from "./dane.js";
import { emptyMtaSts, readPolicy, readStsRecords } from "./mta-sts.js";
import { fetchPolicyText, type PolicyFetchContext } from "./policy-fetch.js";
import { emptyTlsRpt, readTlsRpt } from "./tls-rpt.js";

export interface MailPolicyContext extends PolicyFetchContext {
  resolveTxt(name: string): Promise<string[][]>;
}

export async function lookupMailPolicy(domain: string, context: MailPolicyContext): Promise<MailPolicy> {
  const start = performance.now();
  const [mtaSts, tlsRpt] = await Promise.all([lookupMtaSts(domain, context), lookupTlsRpt(domain, context)]);
  return { domain, mtaSts, tlsRpt, findings: [], totalMs: performance.now() - start, tlsa: [], mxAuthenticated: false, mxLookupError: "" };
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

export interface TlsaLookupContext {
  /** The agent's DNS servers ("ip" or "ip:port"); empty: the system's. */
  servers?: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
}

/** An exchanger's TLSA records at _25._tcp.<exchanger>, with the AD flag, through the agent's resolver. */
export async function lookupTlsa(exchanger: string, context: TlsaLookupContext): Promise<TlsaLookup> {
  const start = performance.now();
  try {
    const answer = await secureQuery(tlsaName(exchanger), "TLSA", { servers: context.servers, timeoutMs: context.timeoutMs, signal: context.signal });
    const records = answer.answers.flatMap((a) =>
      a.type === "TLSA" && a.name.toLowerCase() === tlsaName(exchanger) ? [{ usage: a.data.usage, selector: a.data.selector, matchingType: a.data.matchingType, data: Buffer.from(a.data.certificate) }] : [],
    );
    return readTlsaAnswer(exchanger, { ok: true, rcode: answer.rcode, authenticated: answer.authenticated, server: answer.server, ms: performance.now() - start, records });
  } catch (error) {
    if (!(error instanceof SecureQueryError)) throw error;
    return readTlsaAnswer(exchanger, { ok: false, reason: error.message, ms: performance.now() - start });
  }
}

/** Whether the resolver authenticated the domain's MX answer (its AD flag); never throws for DNS trouble. */
export async function lookupMxAuthentication(domain: string, context: TlsaLookupContext): Promise<{ authenticated: boolean; error: string }> {
  try {
    const answer = await secureQuery(domain, "MX", { servers: context.servers, timeoutMs: context.timeoutMs, signal: context.signal });
    return { authenticated: answer.authenticated && answer.rcode === "NOERROR", error: answer.rcode === "NOERROR" ? "" : `the MX lookup answered ${answer.rcode}` };
  } catch (error) {
    if (!(error instanceof SecureQueryError)) throw error;
    return { authenticated: false, error: error.message };
  }
}
