// What a mail domain's policy means for the report. Pure.
// - Findings about the policy itself (MailPolicy.findings): MTA-STS unusable, in testing mode,
//   TLS-RPT missing or broken.
// - Per exchanger and address (HandshakeResult.policy_check): what a sender honouring MTA-STS does
//   with the exchanger and the certificate seen from this region (RFC 8461 §4).
// - Severity on an MX relay: opportunistic TLS (RFC 7435) makes a bad certificate a warning, since
//   senders deliver anyway; under a policy in enforce mode the same certificate makes senders defer
//   or bounce the mail, so the certificate findings become errors and say so.
import {
  Finding,
  MtaStsMode,
  MtaStsStatus,
  Outcome,
  Phase,
  PolicyResult,
  PortRole,
  Severity,
  TlsRptStatus,
  type HandshakeResult,
  type MailPolicy,
  type PolicyCheck,
} from "../../../gen/smtpprobe/v1/handshake.js";
import { RELAY_CERT_CONSEQUENCE } from "../findings.js";
import { defaultPortRole } from "../options.js";
import { matchExchanger, modeName } from "./mta-sts.js";

/** The codes this module adds to a handshake's findings. */
export const POLICY_HANDSHAKE_CODES: readonly string[] = ["mta_sts_mx_not_listed", "mta_sts_certificate_invalid"];

/** Findings whose severity the policy decides on a relay: the certificate and STARTTLS ones. */
const ENFORCEABLE = new Set(["cert_untrusted", "cert_name_mismatch", "cert_expired", "cert_not_yet_valid", "starttls_missing", "starttls_failed"]);

export function domainFindings(policy: MailPolicy): Finding[] {
  const found: Finding[] = [];
  const sts = policy.mtaSts;
  const rpt = policy.tlsRpt;
  const d = policy.domain;
  if (sts?.status === MtaStsStatus.MTA_STS_STATUS_INVALID) {
    found.push(
      finding(
        "mta_sts_invalid",
        Severity.SEVERITY_WARNING,
        `${d} publishes MTA-STS but the policy cannot be used from here: ${sts.reason}; senders without a cached policy deliver with opportunistic TLS, and those holding one keep enforcing it until its max_age runs out.`,
      ),
    );
  }
  if (sts?.status === MtaStsStatus.MTA_STS_STATUS_DNS_FAILED) {
    found.push(finding("mta_sts_dns_failed", Severity.SEVERITY_WARNING, `The _mta-sts TXT lookup for ${d} failed (${sts.reason}), so whether the domain has an MTA-STS policy is unknown from here.`));
  }
  if (sts?.status === MtaStsStatus.MTA_STS_STATUS_VALID && sts.mode === MtaStsMode.MTA_STS_MODE_TESTING) {
    found.push(finding("mta_sts_testing", Severity.SEVERITY_INFO, `${d}'s MTA-STS policy is in testing mode: senders report failures (TLS-RPT) but deliver anyway.`));
  }
  if (sts && sts.syntaxWarnings.length > 0 && sts.status === MtaStsStatus.MTA_STS_STATUS_VALID) {
    found.push(
      finding(
        "mta_sts_syntax",
        Severity.SEVERITY_INFO,
        `${d}'s MTA-STS ${sts.syntaxWarnings.map(syntaxWords).join(", ")}: lenient senders accept it, strict ones may not (RFC 8461 §3).`,
      ),
    );
  }
  const stsPublished = sts !== undefined && (sts.status === MtaStsStatus.MTA_STS_STATUS_VALID || sts.status === MtaStsStatus.MTA_STS_STATUS_INVALID) && sts.mode !== MtaStsMode.MTA_STS_MODE_NONE;
  if (rpt?.status === TlsRptStatus.TLS_RPT_STATUS_NOT_PUBLISHED && stsPublished) {
    found.push(
      finding(
        "tls_rpt_missing",
        Severity.SEVERITY_WARNING,
        `${d} publishes MTA-STS but no TLS-RPT record (_smtp._tls, RFC 8460): senders that fail to deliver under the policy have nowhere to report it, so failures go unnoticed.`,
      ),
    );
  }
  if (rpt?.status === TlsRptStatus.TLS_RPT_STATUS_INVALID) {
    found.push(finding("tls_rpt_invalid", Severity.SEVERITY_WARNING, `${d}'s TLS-RPT record cannot be used: ${rpt.reason}.`));
  }
  return found;
}

function syntaxWords(code: string): string {
  const words: Record<string, string> = {
    "txt-syntax": "TXT record does not follow the RFC's syntax",
    "policy-syntax": "policy does not follow the RFC's syntax",
    "content-type": "policy is not served as text/plain",
  };
  return words[code] ?? code;
}

/** What a sender honouring the domain's MTA-STS does with this handshake's exchanger and certificate. */
export function policyCheckFor(h: HandshakeResult, policy: MailPolicy): PolicyCheck {
  const sts = policy.mtaSts;
  const exchanger = (h.exchange || h.host).toLowerCase().replace(/\.$/, "");
  const check: PolicyCheck = {
    domain: policy.domain,
    mtaStsStatus: sts?.status ?? MtaStsStatus.MTA_STS_STATUS_UNSPECIFIED,
    mtaStsMode: sts?.mode ?? MtaStsMode.MTA_STS_MODE_UNSPECIFIED,
    mtaSts: PolicyResult.POLICY_RESULT_NOT_APPLICABLE,
    mtaStsReason: "",
    mxMatches: false,
    mxPattern: "",
    certificateValid: false,
    certificateError: "",
  };
  const cert = certificateVerdict(h, exchanger);
  check.certificateValid = cert.valid;
  check.certificateError = cert.error;
  if (!sts || sts.status !== MtaStsStatus.MTA_STS_STATUS_VALID) {
    check.mtaStsReason = `no usable MTA-STS policy for ${policy.domain} from here: senders use opportunistic TLS`;
    return check;
  }
  if (sts.mode === MtaStsMode.MTA_STS_MODE_NONE) {
    check.mtaStsReason = `${policy.domain}'s MTA-STS mode is none: the policy is withdrawn`;
    return check;
  }
  const match = matchExchanger(exchanger, sts);
  check.mxMatches = match.matches;
  check.mxPattern = match.pattern;
  if (!match.matches) {
    check.mtaSts = PolicyResult.POLICY_RESULT_FAIL;
    check.mtaStsReason = `${exchanger} matches no mx pattern of the policy (${sts.mxPatterns.join(", ")})`;
    return check;
  }
  if (cert.unknown) {
    check.mtaSts = PolicyResult.POLICY_RESULT_UNKNOWN;
    check.mtaStsReason = `${exchanger} matches ${match.pattern}; the handshake did not reach TLS (${h.reason || "no reason given"})`;
    return check;
  }
  check.mtaSts = cert.valid ? PolicyResult.POLICY_RESULT_PASS : PolicyResult.POLICY_RESULT_FAIL;
  check.mtaStsReason = cert.valid
    ? `${exchanger} matches ${match.pattern} and its certificate is valid for it`
    : `${exchanger} matches ${match.pattern} but ${cert.error}`;
  return check;
}

/** PKIX validity for the exchanger's name (RFC 8461 §4.2), or unknown when TLS was never reached. */
function certificateVerdict(h: HandshakeResult, exchanger: string): { valid: boolean; unknown: boolean; error: string } {
  const tls = h.tls;
  if (tls && tls.chain.length > 0) {
    if (!tls.trusted) return { valid: false, unknown: false, error: `its certificate is not trusted (${tls.trustError || "no reason given"})` };
    const checked = tls.checkedName.toLowerCase().replace(/\.$/, "");
    if (!tls.nameMatches || checked !== exchanger) {
      return { valid: false, unknown: false, error: `its certificate is not valid for ${exchanger} (${tls.nameError || `checked against ${checked || "no name"}`})` };
    }
    return { valid: true, unknown: false, error: "" };
  }
  if (h.capabilities && !h.capabilities.starttls) return { valid: false, unknown: false, error: "it does not offer STARTTLS, and the policy requires TLS" };
  if (h.phase === Phase.PHASE_STARTTLS || h.phase === Phase.PHASE_TLS || h.outcome === Outcome.OUTCOME_TLS_FAILED) {
    return { valid: false, unknown: false, error: `TLS could not be established (${h.reason || "no reason given"})` };
  }
  return { valid: false, unknown: true, error: "" };
}

/**
 * Records the policy check on a relay handshake and lets the policy decide its findings' severity.
 * Other roles (submission) are not covered by MTA-STS and are left as they are.
 */
export function applyMailPolicy(h: HandshakeResult, policy: MailPolicy): void {
  if ((h.portRole || defaultPortRole(h.port)) !== PortRole.PORT_ROLE_MX_RELAY) return;
  const check = policyCheckFor(h, policy);
  h.policyCheck = check;
  const enforce = check.mtaStsMode === MtaStsMode.MTA_STS_MODE_ENFORCE && check.mtaStsStatus === MtaStsStatus.MTA_STS_STATUS_VALID;
  const testing = check.mtaStsMode === MtaStsMode.MTA_STS_MODE_TESTING && check.mtaStsStatus === MtaStsStatus.MTA_STS_STATUS_VALID;
  const exchanger = h.exchange || h.host;
  const kept = h.findings.filter((f) => !POLICY_HANDSHAKE_CODES.includes(f.code));
  const added: Finding[] = [];
  if ((enforce || testing) && !check.mxMatches) {
    added.push(
      finding(
        "mta_sts_mx_not_listed",
        enforce ? Severity.SEVERITY_ERROR : Severity.SEVERITY_WARNING,
        enforce
          ? `${exchanger} is not among the exchangers ${check.domain}'s MTA-STS policy lists (${(policy.mtaSts?.mxPatterns ?? []).join(", ")}); senders honouring the policy (enforce) will not deliver to it.`
          : `${exchanger} is not among the exchangers ${check.domain}'s MTA-STS policy lists; in testing mode senders deliver anyway and report the failure.`,
      ),
    );
  }
  const consequence = enforce
    ? `${check.domain} publishes MTA-STS in enforce mode, so senders honouring it (RFC 8461 §5) will not deliver to ${exchanger}: mail waits in their queues and bounces unless another exchanger passes.`
    : testing
      ? `${check.domain}'s MTA-STS policy is in testing mode, so senders deliver anyway and report the failure (TLS-RPT).`
      : "";
  const judged = kept.map((f) => {
    if (!ENFORCEABLE.has(f.code) || consequence === "") return f;
    const message = f.message.includes(consequence)
      ? f.message
      : f.message.includes(RELAY_CERT_CONSEQUENCE) ? f.message.replace(RELAY_CERT_CONSEQUENCE, consequence) : `${f.message.replace(/\s*$/, "")} ${consequence}`;
    return { ...f, severity: enforce ? Severity.SEVERITY_ERROR : f.severity, message };
  });
  if (enforce && check.mtaSts === PolicyResult.POLICY_RESULT_FAIL && check.mxMatches && !judged.some((f) => ENFORCEABLE.has(f.code))) {
    // A failure the handshake's own findings did not name (a certificate for another name than the exchanger's, say).
    added.push(finding("mta_sts_certificate_invalid", Severity.SEVERITY_ERROR, `${check.mtaStsReason}; ${consequence}`));
  }
  h.findings = [...judged, ...added].sort((a, b) => b.severity - a.severity || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

/** One line on what a sender honouring the policy does, for people (the CLI, the comparison). */
export function senderAction(check: PolicyCheck): string {
  switch (check.mtaSts) {
    case PolicyResult.POLICY_RESULT_PASS:
      return `delivers under MTA-STS (${modeName(check.mtaStsMode)})`;
    case PolicyResult.POLICY_RESULT_FAIL:
      return check.mtaStsMode === MtaStsMode.MTA_STS_MODE_ENFORCE ? "defers the mail (MTA-STS enforce fails)" : "delivers and reports a failure (MTA-STS testing)";
    case PolicyResult.POLICY_RESULT_UNKNOWN:
      return "cannot tell (TLS not reached)";
    default:
      return "delivers with opportunistic TLS (no usable MTA-STS policy)";
  }
}

function finding(code: string, severity: Severity, message: string): Finding {
  return Finding.create({ code, severity, message });
}
