// The domain check's findings: one rule per code, each with its severity and one sentence. Pure:
// they read the posture's parts, never DNS.
import { Severity, type Finding } from "../../gen/smtpprobe/v1/handshake.js";
import type { AddressPosture } from "../../gen/smtpprobe/v1/address_posture.js";
import { SpfResult, type DkimKey, type DmarcPosture, type MxPosture, type SpfPosture, type SpfRecordNode } from "../../gen/smtpprobe/v1/domain.js";
import { policyStrength } from "./dmarc-record.js";

/** RFC 7208 §4.6.4. */
export const SPF_LOOKUP_LIMIT = 10;
export const SPF_VOID_LIMIT = 2;
/** RFC 7208 §3.4: keep the answer within 512 octets; a record this long leaves no room. */
export const SPF_LONG_RECORD = 450;

const finding = (code: string, severity: Severity, message: string): Finding => ({ code, severity, message });
const { SEVERITY_ERROR: ERROR, SEVERITY_WARNING: WARNING, SEVERITY_INFO: INFO } = Severity;

export function spfFindings(domain: string, spf: SpfPosture): Finding[] {
  const root = spf.record;
  if (!root) return [];
  const out: Finding[] = [];
  if (root.error === "no SPF record") {
    return [finding("spf_missing", WARNING, `${domain} publishes no SPF record: receivers cannot tell its senders from forgers.`)];
  }
  if (root.record === "") {
    return [finding("spf_dns_error", WARNING, `The SPF record of ${domain} could not be read: ${root.error}.`)];
  }
  if (/SPF records/.test(root.error)) {
    out.push(finding("spf_multiple_records", ERROR, `${domain} publishes several SPF records; receivers treat that as a permanent error (RFC 7208 §4.5).`));
  }
  for (const node of walk(root)) {
    const where = node === root ? domain : `${node.domain} (${node.via} from the tree of ${domain})`;
    if (node.error.startsWith("loop")) {
      out.push(finding("spf_include_loop", ERROR, `The SPF tree of ${domain} loops (${node.error.slice(6)}); evaluation ends in a permanent error.`));
    } else if (node !== root && node.error === "no SPF record") {
      out.push(finding("spf_include_missing", ERROR, `${where} has no SPF record; an ${node.via} of it is a permanent error (RFC 7208 §5.2, §6.1).`));
    } else if (node.terms.length > 0 && node.error !== "") {
      out.push(finding("spf_syntax_error", ERROR, `The SPF record of ${where} has errors: ${node.error}.`));
    } else if (node !== root && node.error !== "" && !/macro|SPF records|not read/.test(node.error)) {
      out.push(finding("spf_dns_error", WARNING, `The SPF record of ${where} could not be read: ${node.error}.`));
    }
    if (node.record.length > SPF_LONG_RECORD) {
      out.push(finding("spf_record_long", WARNING, `The SPF record of ${where} is ${node.record.length} characters; over ${SPF_LONG_RECORD}, its DNS answer may not fit 512 octets (RFC 7208 §3.4).`));
    }
    if (node.terms.some((t) => t.qualifier !== "" && t.name === "ptr")) {
      out.push(finding("spf_ptr_used", WARNING, `The SPF record of ${where} uses "ptr", which RFC 7208 §5.5 says not to use: slow, unreliable, and many receivers skip it.`));
    }
  }
  const all = root.terms.find((t) => t.qualifier !== "" && t.name === "all");
  if (all?.qualifier === "+") out.push(finding("spf_all_pass", ERROR, `The SPF record of ${domain} ends in "+all": every address on the internet may send as ${domain}.`));
  if (all?.qualifier === "?") out.push(finding("spf_all_neutral", WARNING, `The SPF record of ${domain} ends in "?all": it says nothing about the addresses it does not list.`));
  if (spf.dnsLookups > SPF_LOOKUP_LIMIT) {
    out.push(finding("spf_too_many_lookups", ERROR, `The SPF tree of ${domain} has ${spf.dnsLookups} DNS-querying terms, over the limit of ${SPF_LOOKUP_LIMIT}: receivers stop with a permanent error (RFC 7208 §4.6.4).`));
  }
  if (spf.voidLookups > SPF_VOID_LIMIT) {
    out.push(finding("spf_too_many_void_lookups", ERROR, `Evaluating the SPF record of ${domain} meets ${spf.voidLookups} lookups that find nothing, over the limit of ${SPF_VOID_LIMIT} (RFC 7208 §4.6.4).`));
  }
  if (spf.fullWalk?.result === SpfResult.SPF_RESULT_TEMPERROR) {
    out.push(finding("spf_temperror", WARNING, `Evaluating the SPF record of ${domain} ends in a temporary error: ${spf.fullWalk.explanation}.`));
  }
  return out;
}

function* walk(node: SpfRecordNode): Generator<SpfRecordNode> {
  yield node;
  for (const child of node.children) yield* walk(child);
}

export function dmarcFindings(domain: string, dmarc: DmarcPosture): Finding[] {
  if (dmarc.error === "no DMARC record") {
    const org = dmarc.organizationalDomain !== domain ? ` (nor does its organisational domain ${dmarc.organizationalDomain})` : "";
    return [finding("dmarc_missing", WARNING, `${domain} publishes no DMARC record${org}: receivers get no policy for mail that fails SPF and DKIM, and no reports are sent.`)];
  }
  if (dmarc.record === "") return [finding("dmarc_dns_error", WARNING, `The DMARC record of ${domain} could not be read: ${dmarc.error}.`)];
  if (/DMARC records/.test(dmarc.error)) {
    return [finding("dmarc_multiple_records", ERROR, `${dmarc.recordDomain} holds several DMARC records, so none applies (RFC 7489 §6.6.3).`)];
  }
  const out: Finding[] = [];
  if (dmarc.error !== "") out.push(finding("dmarc_syntax_error", ERROR, `The DMARC record at ${dmarc.recordDomain} has errors: ${dmarc.error}.`));
  if (dmarc.inherited) out.push(finding("dmarc_inherited", INFO, `${domain} has no DMARC record of its own; the organisational domain's applies (${dmarc.recordDomain}).`));
  const policy = dmarc.inherited ? dmarc.subdomainPolicy : dmarc.policy;
  if (policy === "none") out.push(finding("dmarc_policy_none", WARNING, `The DMARC policy for ${domain} is "none": mail that fails authentication is delivered as usual; it only asks for reports.`));
  if (!dmarc.inherited && policyStrength(dmarc.subdomainPolicy) < policyStrength(dmarc.policy)) {
    out.push(finding("dmarc_subdomain_weaker", WARNING, `The DMARC policy for subdomains of ${domain} (sp=${dmarc.subdomainPolicy}) is weaker than for ${domain} itself (p=${dmarc.policy}): a forger can use any subdomain.`));
  }
  if (dmarc.pct < 100 && policy !== "none") out.push(finding("dmarc_pct_partial", INFO, `The DMARC policy applies to ${dmarc.pct}% of failing mail (pct=${dmarc.pct}); the rest is treated one step more leniently.`));
  if (dmarc.rua.length === 0) out.push(finding("dmarc_no_reports", WARNING, `The DMARC record of ${domain} asks for no aggregate reports (no rua=): nobody learns who sends as ${domain}.`));
  for (const uri of [...dmarc.rua, ...dmarc.ruf]) {
    if (uri.external && !uri.authorized) {
      out.push(finding("dmarc_report_destination_unauthorized", WARNING, `Reports for ${domain} go to ${uri.domain}, another organisation, which does not agree to take them (no v=DMARC1 record at ${dmarc.recordDomain.slice(7)}._report._dmarc.${uri.domain}); receivers send none there (RFC 7489 §7.1).`));
    }
  }
  return out;
}

export function dkimFindings(domain: string, keys: readonly DkimKey[]): Finding[] {
  const out: Finding[] = [];
  for (const key of keys) {
    const name = key.recordName;
    if (!key.found) {
      out.push(finding("dkim_key_missing", WARNING, `No DKIM key at ${name}: mail signed with selector ${key.selector} fails DKIM.`));
    } else if (key.revoked) {
      out.push(finding("dkim_key_revoked", INFO, `The DKIM key at ${name} is revoked (empty p=): signatures with selector ${key.selector} fail.`));
    } else if (key.error !== "") {
      out.push(finding("dkim_key_invalid", ERROR, `The DKIM record at ${name} is not a usable key: ${key.error}.`));
    } else if (key.keyType === "rsa" && key.keyBits < 1024) {
      out.push(finding("dkim_key_weak", ERROR, `The DKIM key at ${name} is RSA ${key.keyBits} bits: under 1024, receivers ignore it (RFC 8301 §3.2) and it can be factored.`));
    } else if (key.keyType === "rsa" && key.keyBits < 2048) {
      out.push(finding("dkim_key_short", WARNING, `The DKIM key at ${name} is RSA ${key.keyBits} bits; 2048 is advised (RFC 8301 §3.2).`));
    }
    if (key.found && key.testMode) {
      out.push(finding("dkim_test_mode", WARNING, `The DKIM key at ${name} is in test mode (t=y): receivers may treat its signatures as unsigned mail (RFC 6376 §3.6.1).`));
    }
  }
  return out;
}

export function mxFindings(domain: string, mx: MxPosture): Finding[] {
  if (mx.nullMx) return [finding("mx_null", INFO, `${domain} publishes a null MX (RFC 7505): it accepts no mail.`)];
  if (mx.error !== "") return [finding("mx_dns_error", ERROR, `The MX records of ${domain} could not be read: ${mx.error}.`)];
  const out: Finding[] = [];
  if (mx.implicit) out.push(finding("mx_implicit", WARNING, `${domain} has no MX record: senders deliver to its own address (RFC 5321 §5.1), and some do not.`));
  for (const exchanger of mx.exchangers) {
    if (exchanger.addresses.length === 0 && !exchanger.error.startsWith("not resolved")) {
      out.push(finding("mx_no_address", ERROR, `The exchanger ${exchanger.exchange || "(empty)"} of ${domain} has no address: ${exchanger.error}.`));
    }
  }
  return out;
}

/**
 * A mail server address's reverse DNS and blocklist listings. `expectedNames` are the names the
 * server goes by (its exchanger name, and where a handshake was made its banner's and EHLO's host
 * names): a PTR name among them is what receivers and senders check.
 */
export function addressFindings(name: string, posture: AddressPosture, expectedNames: readonly string[] = []): Finding[] {
  const out: Finding[] = [];
  const where = `${posture.address} (${name})`;
  const rdns = posture.reverseDns;
  if (rdns) {
    if (rdns.ptrNames.length === 0) {
      out.push(finding("ptr_missing", WARNING, `${where} has no reverse DNS (${rdns.error}): many receivers refuse mail from an address without a PTR name.`));
    } else if (!rdns.forwardConfirmed) {
      out.push(finding("ptr_not_confirmed", WARNING, `The PTR name of ${where}, ${rdns.ptrNames.join(", ")}, does not resolve back to it: the reverse DNS is not forward-confirmed, which receivers check.`));
    } else if (expectedNames.length > 0 && !expectedNames.some((n) => n.toLowerCase().replace(/\.$/, "") === rdns.confirmedName)) {
      out.push(finding("ptr_name_mismatch", INFO, `The reverse DNS of ${where} is ${rdns.confirmedName}, not the name it goes by (${expectedNames.join(", ")}).`));
    }
  }
  for (const list of posture.blocklists) {
    if (list.listed) {
      out.push(finding("dnsbl_listed", ERROR, `${where} is listed in ${list.zone} (${list.codes.join(", ")})${list.reason ? `: ${list.reason}` : ""}.`));
    } else if (list.error !== "") {
      out.push(finding("dnsbl_query_failed", INFO, `The blocklist ${list.zone} gave no answer for ${where}: ${list.error}. This is not a listing.`));
    }
  }
  return out;
}

const RANK: Record<number, number> = { [ERROR]: 0, [WARNING]: 1, [INFO]: 2 };

/** Worst first, then in the order found. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => (RANK[a.f.severity] ?? 3) - (RANK[b.f.severity] ?? 3) || a.i - b.i)
    .map(({ f }) => f);
}
