import {
  CipherGrade,
  CipherOrder,
  Finding,
  Outcome,
  Phase,
  PortRole,
  Severity,
  StarttlsEnforcementStatus,
  TlsMode,
  TlsScanStatus,
  TlsVersion,
  VersionSupport,
  type Certificate,
  type HandshakeResult,
  type Reply,
  type TlsCipher,
  type TlsVersionProfile,
} from "../../gen/smtpprobe/v1/handshake.js";
import { defaultPortRole } from "./options.js";
import { describeReply } from "./reply-meaning.js";
import { BANNER, type ReplyMoment } from "./reply-moment.js";
import { escapeLine } from "./transcript.js";
import { versionLabel } from "./tls-scan/tls-registry.js";

/** What the rules need beyond the result: the clock, what the reader measured, and thresholds. */
export interface FindingFacts {
  now: Date;
  /** the longest reply line the server sent, in octets */
  longestLineOctets: number;
  /** a longer reply line is reported (RFC 5321 §4.5.3.1.5: 512) */
  longLineOctets: number;
  /** a slower banner is reported */
  slowBannerMs: number;
  /** a leaf certificate expiring within this many days is reported */
  expiryWarningDays: number;
}

export function defaultFindingFacts(now: Date = new Date()): FindingFacts {
  return { now, longestLineOctets: 0, longLineOctets: 512, slowBannerMs: 5000, expiryWarningDays: 14 };
}

/** Every finding the result supports, errors first, then by code. */
export function deriveFindings(result: HandshakeResult, facts: FindingFacts): Finding[] {
  return sortFindings(applyRules([...RULES, ...CHECK_RULES], result, facts));
}

/**
 * Adds the findings of the checks that run after the handshake (the TLS profile, STARTTLS
 * enforcement) to those the handshake already has, in the same order.
 */
export function addCheckFindings(result: HandshakeResult, facts: FindingFacts = defaultFindingFacts()): void {
  const codes = new Set(CHECK_CODES);
  result.findings = sortFindings([...result.findings.filter((f) => !codes.has(f.code)), ...applyRules(CHECK_RULES, result, facts)]);
}

function applyRules(rules: readonly Rule[], result: HandshakeResult, facts: FindingFacts): Finding[] {
  const found: Finding[] = [];
  for (const rule of rules) {
    const finding = rule(result, facts);
    if (finding) found.push(finding);
  }
  return found;
}

function sortFindings(found: Finding[]): Finding[] {
  return found.sort((a, b) => b.severity - a.severity || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

type Rule = (result: HandshakeResult, facts: FindingFacts) => Finding | undefined;

const DAY_MS = 86_400_000;
const STARTTLS: ReplyMoment = { kind: "command", verb: "STARTTLS" };
const OLD_TLS = /^(SSL ?v?[23](\.0)?|TLS ?v?1(\.[01])?)$/i;
const WEAK_SIGNATURE = /sha-?1(?!\d)|md[245]/i;
// Signature OIDs that certificate-facts.ts may pass through in dotted form: dsa-with-sha1, sha1WithRSA (OIW).
const WEAK_SIGNATURE_OIDS = new Set(["1.2.840.10040.4.3", "1.3.14.3.2.29"]);

const starttlsMissing: Rule = (r) => {
  const caps = r.capabilities;
  // STARTTLS is how TLS happens on 25 (RFC 5321), 587 (RFC 6409) and 2525; on any other port a
  // probe in auto or require mode is asking the same question, so the rule holds there too.
  if (!caps || caps.starttls) return undefined;
  if (r.tlsMode === TlsMode.TLS_MODE_IMPLICIT || r.tlsMode === TlsMode.TLS_MODE_NONE) return undefined;
  // With TLS required, starttls_unavailable_required already says it; one fact, one finding.
  if (r.outcome === Outcome.OUTCOME_STARTTLS_UNAVAILABLE) return undefined;
  const why = caps.heloOnly ? " (it answered HELO only, which advertises no extensions)" : "";
  // A relay without STARTTLS still receives mail, in cleartext; a submission port without it
  // takes passwords in cleartext.
  return isRelay(r)
    ? finding(
        "starttls_missing",
        Severity.SEVERITY_WARNING,
        `${server(r)} does not offer STARTTLS${why}, so senders cannot encrypt and mail to it travels in cleartext that anyone on the path can read or alter.`,
      )
    : finding(
        "starttls_missing",
        Severity.SEVERITY_ERROR,
        `${server(r)} does not offer STARTTLS${why}, so mail clients that log in here send their passwords and mail in cleartext, or refuse to send at all.`,
      );
};

const starttlsFailed: Rule = (r) => {
  if (!r.capabilities?.starttls || r.outcome === Outcome.OUTCOME_OK) return undefined;
  if (r.phase !== Phase.PHASE_STARTTLS && r.phase !== Phase.PHASE_TLS) return undefined;
  // Not the server's doing, or already reported by starttls_unavailable_required.
  if (r.outcome === Outcome.OUTCOME_CANCELLED || r.outcome === Outcome.OUTCOME_INTERNAL_ERROR) return undefined;
  if (r.outcome === Outcome.OUTCOME_STARTTLS_UNAVAILABLE) return undefined;
  const what =
    r.phase === Phase.PHASE_STARTTLS && r.lastReply
      ? `refused the STARTTLS command with ${replyText(r.lastReply, STARTTLS)}`
      : r.phase === Phase.PHASE_STARTTLS
        ? `did not complete the STARTTLS command (${reasonText(r)})`
        : `failed the TLS handshake after STARTTLS (${reasonText(r)})`;
  const then = isRelay(r) ? "senders fall back to cleartext or give up" : "mail clients cannot protect their login and refuse to send, or send passwords in cleartext";
  return finding("starttls_failed", Severity.SEVERITY_ERROR, `${server(r)} offers STARTTLS but ${what}, so ${then}.`);
};

const starttlsUnavailableRequired: Rule = (r) => {
  if (r.outcome !== Outcome.OUTCOME_STARTTLS_UNAVAILABLE) return undefined;
  const what = !r.capabilities?.starttls
    ? "the server does not offer STARTTLS"
    : r.lastReply
      ? `the server refused STARTTLS with ${replyText(r.lastReply, STARTTLS)}`
      : `STARTTLS failed (${reasonText(r)})`;
  const then = isRelay(r)
    ? "senders that insist on TLS (MTA-STS, DANE, REQUIRETLS) cannot deliver"
    : "mail clients, which insist on TLS before they send a password, cannot log in";
  return finding("starttls_unavailable_required", Severity.SEVERITY_ERROR, `TLS was required on ${where(r)} but ${what}, so ${then}.`);
};

const tlsVersionOld: Rule = (r) => {
  const protocol = r.tls?.protocol ?? "";
  if (!OLD_TLS.test(protocol)) return undefined;
  const then = isRelay(r)
    ? "senders whose TLS library refuses them (current OpenSSL does) cannot use TLS here and fall back to cleartext or give up"
    : "current mail clients refuse to connect";
  return finding(
    "tls_version_old",
    Severity.SEVERITY_ERROR,
    `${server(r)} negotiated ${protocol}; versions below TLS 1.2 are deprecated (RFC 8996), and ${then}.`,
  );
};

const certExpired: Rule = (r, facts) => {
  const leaf = leafOf(r);
  if (!leaf || !isValidDate(leaf.notAfter) || leaf.notAfter.getTime() >= facts.now.getTime()) return undefined;
  const ago = Math.floor((facts.now.getTime() - leaf.notAfter.getTime()) / DAY_MS);
  return finding(
    "cert_expired",
    certSeverity(r),
    `The certificate for ${certName(leaf)} on ${where(r)} expired on ${formatDate(leaf.notAfter)} (${ago === 0 ? "less than a day" : plural(ago, "day")} ago); ${certConsequence(r)}`,
  );
};

const certNotYetValid: Rule = (r, facts) => {
  const leaf = leafOf(r);
  if (!leaf || !isValidDate(leaf.notBefore) || leaf.notBefore.getTime() <= facts.now.getTime()) return undefined;
  return finding(
    "cert_not_yet_valid",
    certSeverity(r),
    `The certificate for ${certName(leaf)} on ${where(r)} is not valid before ${formatDate(leaf.notBefore)} (installed too early, or a clock is wrong); ${certConsequence(r)}`,
  );
};

const certExpiring: Rule = (r, facts) => {
  const leaf = leafOf(r);
  if (!leaf || !isValidDate(leaf.notAfter)) return undefined;
  const left = leaf.notAfter.getTime() - facts.now.getTime();
  if (left < 0 || left > facts.expiryWarningDays * DAY_MS) return undefined;
  const days = Math.floor(left / DAY_MS);
  return finding(
    "cert_expiring",
    Severity.SEVERITY_WARNING,
    `The certificate for ${certName(leaf)} on ${where(r)} expires on ${formatDate(leaf.notAfter)}, ${days === 0 ? "within a day" : `in ${plural(days, "day")}`}; renew it before ${isRelay(r) ? "senders enforcing MTA-STS" : "mail clients"} start refusing it.`,
  );
};

const certUntrusted: Rule = (r) => {
  const leaf = leafOf(r);
  if (!leaf || r.tls?.trusted !== false) return undefined;
  return finding(
    "cert_untrusted",
    certSeverity(r),
    `The certificate for ${certName(leaf)} on ${where(r)} is not trusted: ${r.tls.trustError || "no reason given"}; ${certConsequence(r)}`,
  );
};

const certNameMismatch: Rule = (r) => {
  const leaf = leafOf(r);
  // Without a checked name (an IP literal, say) there is nothing to mismatch.
  if (!leaf || !r.tls || r.tls.nameMatches || r.tls.checkedName === "") return undefined;
  return finding(
    "cert_name_mismatch",
    certSeverity(r),
    `The certificate for ${certName(leaf)} on ${where(r)} does not match the name ${r.tls.checkedName}: ${r.tls.nameError || "no reason given"}; ${certConsequence(r)}`,
  );
};

const certWeakKey: Rule = (r) => {
  const weak = checkedChain(r, true).filter(isWeakKey);
  if (weak.length === 0) return undefined;
  const list = weak.map((cert) => `a ${cert.keyBits}-bit ${cert.keyType} key in the certificate for ${certName(cert)}`);
  return finding(
    "cert_weak_key",
    Severity.SEVERITY_ERROR,
    `${server(r)} presents ${joinAnd(list)}; keys this small can be broken (RSA and DSA need at least 2048 bits, EC at least 224), and ${isRelay(r) ? "senders whose TLS library refuses them cannot use TLS here and fall back to cleartext or give up" : "current mail clients refuse them"}.`,
  );
};

const certSha1Signature: Rule = (r) => {
  // A self-signed certificate's own signature proves nothing, so only issued ones count.
  const weak = checkedChain(r, false).filter((cert) => isWeakSignature(cert.signatureAlgorithm));
  if (weak.length === 0) return undefined;
  const list = weak.map((cert) => `the certificate for ${certName(cert)} is signed with ${cert.signatureAlgorithm}`);
  return finding(
    "cert_sha1_signature",
    Severity.SEVERITY_WARNING,
    `On ${where(r)} ${joinAnd(list)}; SHA-1 and MD5 signatures can be forged, and ${isRelay(r) ? "senders that check certificates (MTA-STS) refuse them" : "current mail clients refuse them"}.`,
  );
};

const authBeforeTls: Rule = (r) => {
  const mechanisms = plaintextMechanisms(r);
  if (mechanisms.length === 0) return undefined;
  if (isRelay(r)) {
    // Servers that relay mail to an MX never log in: AUTH there serves only misplaced clients.
    return finding(
      "auth_before_tls",
      Severity.SEVERITY_WARNING,
      `${server(r)} offers AUTH (${mechanisms.join(", ")}) before TLS on an MX relay port, where servers that deliver mail never log in, so AUTH here only serves clients that belong on a submission port (587 or 465) and invites password guessing from anywhere.`,
    );
  }
  // Where clients log in, AUTH belongs after STARTTLS. PLAIN and LOGIN give the password away
  // (auth_plaintext_password); the others keep it off the wire, and what they do send is said.
  const others = mechanisms.filter((m) => !isPasswordMechanism(m));
  const sends = others.length === 0
    ? ""
    : `; ${joinAnd(others)} ${others.length === 1 ? "does" : "do"} not send the password in cleartext, but what ${others.length === 1 ? "it sends" : "they send"} is in view: ${others.map(describeMechanism).join("; ")}`;
  return finding(
    "auth_before_tls",
    Severity.SEVERITY_WARNING,
    `${server(r)} offers AUTH (${mechanisms.join(", ")}) before TLS, where a submission server should offer it only after STARTTLS, so that no client logs in over a cleartext connection${sends}.`,
  );
};

const authPlaintextPassword: Rule = (r) => {
  const exposed = plaintextMechanisms(r).filter(isPasswordMechanism);
  if (exposed.length === 0) return undefined;
  // RFC 4954 §4: servers should not permit plaintext password mechanisms without TLS.
  const relay = isRelay(r) ? "; a relay port needs no AUTH at all" : "";
  return finding(
    "auth_plaintext_password",
    Severity.SEVERITY_ERROR,
    `${server(r)} offers ${joinAnd(exposed)} before TLS, so a client that logs in sends its password in cleartext (base64 is not encryption; RFC 4954 §4)${relay}.`,
  );
};

const bannerRejected: Rule = (r) => {
  if (!r.banner || Math.trunc(r.banner.code / 100) !== 5) return undefined;
  return finding("banner_rejected", Severity.SEVERITY_ERROR, `${server(r)} rejected the connection in its banner with ${replyText(r.banner, BANNER)}.`);
};

const bannerDeferred: Rule = (r) => {
  if (!r.banner || Math.trunc(r.banner.code / 100) !== 4) return undefined;
  return finding("banner_deferred", Severity.SEVERITY_WARNING, `${server(r)} turned the connection away for now in its banner with ${replyText(r.banner, BANNER)}.`);
};

const bannerSlow: Rule = (r, facts) => {
  // Only a banner that came can have been slow; none at all is no_banner.
  if (!r.banner) return undefined;
  const timing = r.timings.find((t) => t.phase === Phase.PHASE_BANNER);
  if (!timing || !(timing.durationMs > facts.slowBannerMs)) return undefined;
  return finding(
    "banner_slow",
    Severity.SEVERITY_WARNING,
    `${server(r)} took ${seconds(timing.durationMs)} to send its banner (more than ${seconds(facts.slowBannerMs)}), often a slow reverse-DNS lookup or a deliberate greeting delay, and impatient clients give up.`,
  );
};

const noBanner: Rule = (r) => {
  if (r.outcome !== Outcome.OUTCOME_NO_BANNER) return undefined;
  const timing = r.timings.find((t) => t.phase === Phase.PHASE_BANNER);
  const waited = timing ? ` in ${seconds(timing.durationMs)}` : "";
  if (mayBeImplicitTls(r)) {
    return finding(
      "no_banner",
      Severity.SEVERITY_ERROR,
      `${server(r)} accepted the connection but sent nothing${waited}, as a port that speaks implicit TLS (RFC 8314) does while it waits for the client's TLS handshake; probe it with --tls implicit (tls_mode TLS_MODE_IMPLICIT).`,
    );
  }
  return finding(
    "no_banner",
    Severity.SEVERITY_ERROR,
    `${server(r)} accepted the connection but sent no banner${waited}, although an SMTP server speaks first (RFC 5321 §3.1), so clients give up; it is overloaded, stuck, deliberately silent (a tarpit), or not an SMTP server.`,
  );
};

const greetingRefused: Rule = (r) => {
  if (r.outcome !== Outcome.OUTCOME_GREETING_REFUSED || !r.lastReply) return undefined;
  const verb = r.phase === Phase.PHASE_HELO ? "HELO" : "EHLO";
  const command = r.phase === Phase.PHASE_EHLO_TLS ? "EHLO over TLS" : verb;
  const after = r.phase === Phase.PHASE_HELO ? " (after EHLO was not known)" : "";
  const said = `${server(r)} refused the greeting: ${command} ${r.ehloName || "(no name)"}${after} was answered ${replyText(r.lastReply, { kind: "command", verb })}`;
  if (Math.trunc(r.lastReply.code / 100) === 4) {
    return finding(
      "greeting_refused",
      Severity.SEVERITY_WARNING,
      `${said}; a 4xx is temporary, so the same probe may pass later, and most often a check of this client's reverse DNS or of the name given in EHLO/HELO could not complete in time.`,
    );
  }
  return finding(
    "greeting_refused",
    Severity.SEVERITY_ERROR,
    `${said}; the likely cause is the server's policy on this client's reverse DNS (no PTR record for its address, or one whose name does not resolve back to it) or on the name given in EHLO/HELO (an address literal, or a name that does not resolve).`,
  );
};

const replyLineLong: Rule = (r, facts) => {
  if (!(facts.longestLineOctets > facts.longLineOctets)) return undefined;
  return finding(
    "reply_line_long",
    Severity.SEVERITY_WARNING,
    `${server(r)} sent a reply line of ${facts.longestLineOctets} octets, more than ${facts.longLineOctets} (RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets with its CRLF), so strict clients may drop the connection.`,
  );
};

const starttlsInjection: Rule = (r) => {
  if (r.starttlsInjection === "") return undefined;
  return finding(
    "starttls_injection",
    Severity.SEVERITY_ERROR,
    `${server(r)} sent plaintext after its 220 reply to STARTTLS and before the TLS handshake (${quote(r.starttlsInjection, INJECTION_QUOTE_CHARS)}); it was discarded as RFC 3207 §6 requires, but it points to a broken server or a man in the middle, and clients that keep it are open to STARTTLS injection (the CVE-2011-0411 class).`,
  );
};

const heloFallback: Rule = (r) => {
  if (!r.capabilities?.heloOnly && !r.capabilitiesTls?.heloOnly) return undefined;
  return finding(
    "helo_fallback",
    Severity.SEVERITY_WARNING,
    `${server(r)} refused EHLO and answered HELO instead, so it advertises no extensions (no STARTTLS, SIZE or AUTH), although RFC 5321 §2.2.1 requires servers to support EHLO.`,
  );
};

const transcriptTruncated: Rule = (r) => {
  if (!r.transcript?.truncated) return undefined;
  return finding(
    "transcript_truncated",
    Severity.SEVERITY_INFO,
    `The transcript of ${where(r)} reached its size bound after ${r.transcript.bytes} bytes and was truncated, so later lines are missing from it.`,
  );
};

const tlsNotAttempted: Rule = (r) => {
  if (r.tlsMode !== TlsMode.TLS_MODE_NONE) return undefined;
  return finding(
    "tls_not_attempted",
    Severity.SEVERITY_INFO,
    `TLS was not attempted on ${where(r)} because the probe ran with TLS mode NONE, so nothing is known about its TLS support or certificate.`,
  );
};

const RULES: readonly Rule[] = [
  starttlsMissing,
  starttlsFailed,
  starttlsUnavailableRequired,
  tlsVersionOld,
  certExpired,
  certNotYetValid,
  certExpiring,
  certUntrusted,
  certNameMismatch,
  certWeakKey,
  certSha1Signature,
  authBeforeTls,
  authPlaintextPassword,
  bannerRejected,
  bannerDeferred,
  bannerSlow,
  noBanner,
  greetingRefused,
  replyLineLong,
  starttlsInjection,
  heloFallback,
  transcriptTruncated,
  tlsNotAttempted,
];

// ---- the checks after the handshake: the TLS profile and STARTTLS enforcement ----

const OLD_VERSIONS: readonly TlsVersion[] = [TlsVersion.TLS_VERSION_SSL_3_0, TlsVersion.TLS_VERSION_TLS_1_0, TlsVersion.TLS_VERSION_TLS_1_1];

function acceptedVersions(r: HandshakeResult): TlsVersionProfile[] {
  return (r.tlsProfile?.versions ?? []).filter((v) => v.support === VersionSupport.VERSION_SUPPORT_ACCEPTED);
}

const tlsOldVersionsAccepted: Rule = (r) => {
  const old = acceptedVersions(r).filter((v) => OLD_VERSIONS.includes(v.version));
  if (old.length === 0) return undefined;
  const names = joinAnd(old.map((v) => versionLabel(v.version)));
  const ssl3 = old.some((v) => v.version === TlsVersion.TLS_VERSION_SSL_3_0);
  const said = `${server(r)} accepts ${names}${ssl3 ? " (SSL 3.0 is broken by POODLE and prohibited by RFC 7568)" : ""}, deprecated by RFC 8996`;
  if (isRelay(r)) {
    return finding(
      "tls_old_versions_accepted",
      ssl3 ? Severity.SEVERITY_ERROR : Severity.SEVERITY_WARNING,
      `${said}; on a relay they serve only senders too old for TLS 1.2, so turn them off once the logs show none (Postfix: smtpd_tls_protocols = >=TLSv1.2).`,
    );
  }
  return finding(
    "tls_old_versions_accepted",
    Severity.SEVERITY_ERROR,
    `${said}; mail clients have spoken TLS 1.2 for a decade, so accept TLS 1.2 and 1.3 only (Postfix: smtpd_tls_mandatory_protocols = >=TLSv1.2 on the submission service).`,
  );
};

/** Per version, the accepted suites of a grade or worse, the worst first. */
function suitesAtLeast(r: HandshakeResult, grade: CipherGrade): { version: TlsVersion; ciphers: TlsCipher[] }[] {
  return acceptedVersions(r)
    .map((v) => ({ version: v.version, ciphers: v.ciphers.filter((c) => c.grade >= grade).sort((a, b) => b.grade - a.grade) }))
    .filter((v) => v.ciphers.length > 0);
}

/** "2 in TLS 1.0 and 6 in TLS 1.2, such as TLS_RSA_WITH_RC4_128_SHA (RC4: ...)": counts per version, and the worst. */
function describeSuites(groups: { version: TlsVersion; ciphers: TlsCipher[] }[]): string {
  const counts = joinAnd(groups.map(({ version, ciphers }) => `${ciphers.length} in ${versionLabel(version)}`));
  const worst = groups.flatMap((g) => g.ciphers).sort((a, b) => b.grade - a.grade)[0];
  return worst ? `${counts}, such as ${worst.name} (${worst.reason})` : counts;
}

const tlsCiphersInsecure: Rule = (r) => {
  const groups = suitesAtLeast(r, CipherGrade.CIPHER_GRADE_INSECURE).map((g) => ({ ...g, ciphers: g.ciphers.filter((c) => c.grade === CipherGrade.CIPHER_GRADE_INSECURE) }));
  if (groups.length === 0) return undefined;
  const said = `${server(r)} accepts insecure cipher suites: ${describeSuites(groups)}`;
  // Opportunistic TLS authenticates nobody anyway (RFC 7435), and Postfix offers anonymous suites
  // on port 25 by default: on a relay they are a lesser evil than the others.
  const onlyAnonymous = groups.every((g) => g.ciphers.every((c) => c.weaknesses.length === 1 && c.weaknesses[0] === "anonymous"));
  if (isRelay(r) && onlyAnonymous) {
    return finding(
      "tls_ciphers_insecure",
      Severity.SEVERITY_WARNING,
      `${said}; on a relay they only spare senders that do not check certificates anyway, but senders that do (DANE, MTA-STS) never use them, so they can go (Postfix: smtpd_tls_exclude_ciphers = aNULL).`,
    );
  }
  return finding(
    "tls_ciphers_insecure",
    Severity.SEVERITY_ERROR,
    `${said}; ${isRelay(r) ? "a sender that offers one gets no protection worth the name" : "a mail client that offers one sends its password and mail unprotected"}, so remove them (Postfix: smtpd_tls_exclude_ciphers = aNULL, eNULL, EXPORT, RC4, DES, MD5).`,
  );
};

const tlsCiphersWeak: Rule = (r) => {
  const groups = suitesAtLeast(r, CipherGrade.CIPHER_GRADE_WEAK).map((g) => ({ ...g, ciphers: g.ciphers.filter((c) => c.grade === CipherGrade.CIPHER_GRADE_WEAK) }));
  const present = groups.filter((g) => g.ciphers.length > 0);
  if (present.length === 0) return undefined;
  const said = `${server(r)} accepts weak cipher suites: ${describeSuites(present)}`;
  return isRelay(r)
    ? finding(
        "tls_ciphers_weak",
        Severity.SEVERITY_INFO,
        `${said}; on a relay they serve old senders and beat cleartext, but prefer forward-secret AEAD suites and drop 3DES (Postfix: tls_preempt_cipherlist = yes, smtpd_tls_exclude_ciphers = 3DES).`,
      )
    : finding(
        "tls_ciphers_weak",
        Severity.SEVERITY_WARNING,
        `${said}; mail clients all speak forward-secret AEAD suites, so accept only those (Postfix: smtpd_tls_mandatory_ciphers = high and smtpd_tls_mandatory_exclude_ciphers = kRSA, 3DES on the submission service).`,
      );
};

const tlsClientCipherOrder: Rule = (r) => {
  if (r.tlsProfile?.cipherOrder !== CipherOrder.CIPHER_ORDER_CLIENT) return undefined;
  if (suitesAtLeast(r, CipherGrade.CIPHER_GRADE_WEAK).length === 0) return undefined;
  return finding(
    "tls_client_cipher_order",
    Severity.SEVERITY_INFO,
    `${server(r)} takes the client's preferred cipher suite (tested in ${versionLabel(r.tlsProfile.cipherOrderVersion)}) and accepts weak ones, so a client that lists a weak suite first gets it; let the server choose (Postfix: tls_preempt_cipherlist = yes).`,
  );
};

const tlsDhWeak: Rule = (r) => {
  const bits = r.tlsProfile?.dhePrimeBits ?? 0;
  if (bits === 0 || bits >= 2048) return undefined;
  return finding(
    "tls_dh_weak",
    bits < 1024 ? Severity.SEVERITY_ERROR : Severity.SEVERITY_WARNING,
    `${server(r)} uses a ${bits}-bit prime for DHE key exchange; primes under 2048 bits are within reach of well-funded attackers (Logjam), so use a 2048-bit or larger group (Postfix: smtpd_tls_dh1024_param_file with 2048-bit parameters) or drop DHE for ECDHE.`,
  );
};

const tlsScanIncomplete: Rule = (r) => {
  if (r.tlsProfile?.status !== TlsScanStatus.TLS_SCAN_STATUS_PARTIAL) return undefined;
  return finding(
    "tls_scan_incomplete",
    Severity.SEVERITY_INFO,
    `The TLS scan of ${where(r)} is incomplete after ${plural(r.tlsProfile.connections, "connection")}: ${r.tlsProfile.reason || "no reason given"}; what it lists was seen, what it lacks is unknown.`,
  );
};

const MAIL: ReplyMoment = { kind: "command", verb: "MAIL" };

const starttlsNotEnforced: Rule = (r) => {
  const e = r.starttlsEnforcement;
  if (e?.status !== StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED || isRelay(r)) return undefined;
  // Without STARTTLS at all, starttls_missing says more.
  if (!r.capabilities?.starttls) return undefined;
  const reply = e.reply ? ` (MAIL FROM:<> was answered ${replyText(e.reply, MAIL)})` : "";
  return finding(
    "starttls_not_enforced",
    Severity.SEVERITY_WARNING,
    `${server(r)} takes mail before STARTTLS${reply}, so a mail client set up without TLS submits in cleartext instead of being told to use it; require TLS on the submission service (Postfix: -o smtpd_tls_security_level=encrypt in master.cf, RFC 3207 §4: 530 5.7.0).`,
  );
};

const relayRefusesPlaintextMail: Rule = (r) => {
  const e = r.starttlsEnforcement;
  if (!e || !isRelay(r) || !e.reply) return undefined;
  const refused =
    e.status === StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED ||
    e.status === StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_AUTH_REQUIRED ||
    e.status === StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REFUSED;
  if (!refused) return undefined;
  const demand =
    e.status === StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED
      ? "demands STARTTLS before mail, which RFC 3207 §4 forbids a publicly referenced server to do: senders without TLS cannot deliver (Postfix: smtpd_tls_security_level = may on port 25)"
      : "refuses mail before STARTTLS, so senders without TLS cannot deliver; if this port is for clients that log in, give it the submission role";
  return finding(
    "relay_refuses_plaintext_mail",
    Severity.SEVERITY_WARNING,
    `${server(r)} ${demand} (MAIL FROM:<> was answered ${replyText(e.reply, MAIL)}).`,
  );
};

/** The rules of the checks that run after the handshake; addCheckFindings replaces their findings. */
const CHECK_RULES: readonly Rule[] = [
  tlsOldVersionsAccepted,
  tlsCiphersInsecure,
  tlsCiphersWeak,
  tlsClientCipherOrder,
  tlsDhWeak,
  tlsScanIncomplete,
  starttlsNotEnforced,
  relayRefusesPlaintextMail,
];

const CHECK_CODES: readonly string[] = [
  "tls_old_versions_accepted",
  "tls_ciphers_insecure",
  "tls_ciphers_weak",
  "tls_client_cipher_order",
  "tls_dh_weak",
  "tls_scan_incomplete",
  "starttls_not_enforced",
  "relay_refuses_plaintext_mail",
];

function finding(code: string, severity: Severity, message: string): Finding {
  return Finding.create({ code, severity, message });
}

/** The target as named mid-sentence: "mx.example.com port 25". */
function where(r: HandshakeResult): string {
  const host = r.host || r.address;
  return host ? `${host} port ${r.port}` : `the server on port ${r.port}`;
}

/** The target as the subject that opens a sentence. */
function server(r: HandshakeResult): string {
  const named = where(r);
  return named.startsWith("the ") ? `The${named.slice(3)}` : named;
}

/** The port's role as the result says it; a result without one (an older agent) gets the port's default. */
function roleOf(r: HandshakeResult): PortRole {
  return r.portRole || defaultPortRole(r.port);
}

function isRelay(r: HandshakeResult): boolean {
  return roleOf(r) === PortRole.PORT_ROLE_MX_RELAY;
}

// Opportunistic TLS between MTAs does not authenticate the server (RFC 7435), so on a relay a bad
// certificate costs only the senders that enforce it; where clients log in, it exposes passwords.
function certSeverity(r: HandshakeResult): Severity {
  return isRelay(r) ? Severity.SEVERITY_WARNING : Severity.SEVERITY_ERROR;
}

/** What a bad certificate costs on a relay without a policy; a domain's policy replaces it (mail-policy/policy-findings.ts). */
export const RELAY_CERT_CONSEQUENCE =
  "senders fall back to opportunistic TLS (RFC 7435) and deliver without checking it, but senders enforcing MTA-STS (RFC 8461) refuse to deliver.";

function certConsequence(r: HandshakeResult): string {
  return isRelay(r)
    ? RELAY_CERT_CONSEQUENCE
    : "mail clients connecting here refuse it or ask their users to accept it before sending a password.";
}

// Ports that speak plaintext first (RFC 5321, RFC 6409, and 2525 by custom); any other may be implicit TLS.
const PLAINTEXT_PORTS: ReadonlySet<number> = new Set([25, 587, 2525]);

/** Whether silence on this port may be implicit TLS spoken to in plaintext (the CLI's hint asks it too). */
export function mayBeImplicitTls(r: Pick<HandshakeResult, "tlsMode" | "portRole" | "port">): boolean {
  if (r.tlsMode === TlsMode.TLS_MODE_IMPLICIT) return false;
  return (r.portRole || defaultPortRole(r.port)) === PortRole.PORT_ROLE_IMPLICIT_TLS_SUBMISSION || !PLAINTEXT_PORTS.has(r.port);
}

function isPasswordMechanism(mechanism: string): boolean {
  return mechanism === "PLAIN" || mechanism === "LOGIN";
}

/** What a SASL mechanism puts on the wire when used without TLS, as a clause. */
function describeMechanism(mechanism: string): string {
  if (mechanism === "CRAM-MD5" || mechanism === "DIGEST-MD5") {
    return `${mechanism} sends an MD5 hash keyed with the password over the server's challenge, which anyone on the path can record and crack offline`;
  }
  if (mechanism.startsWith("SCRAM-")) {
    return `${mechanism} proves the password without sending it, but the exchange shows the user name and lets an eavesdropper guess the password offline, slowed by its iteration count`;
  }
  if (mechanism === "XOAUTH2" || mechanism === "OAUTHBEARER") {
    return `${mechanism} sends an OAuth access token in cleartext, which anyone on the path can replay until it expires`;
  }
  if (mechanism === "NTLM") return "NTLM sends a challenge response that can be cracked offline or relayed";
  if (mechanism === "GSSAPI") return "GSSAPI uses Kerberos tickets, with the user's name in view";
  return `${mechanism} sends whatever that mechanism sends in cleartext`;
}

function leafOf(r: HandshakeResult): Certificate | undefined {
  return r.tls?.chain[0];
}

/** The leaf (always, when includeLeaf) and every certificate that is not a self-signed root. */
function checkedChain(r: HandshakeResult, includeLeaf: boolean): Certificate[] {
  return (r.tls?.chain ?? []).filter((cert, index) => !cert.selfSigned || (includeLeaf && index === 0));
}

function isWeakKey(cert: Certificate): boolean {
  if (cert.keyBits <= 0) return false; // unknown size: nothing to say
  const type = cert.keyType.toUpperCase();
  if (type.startsWith("RSA") || type === "DSA") return cert.keyBits < 2048;
  if (type === "EC") return cert.keyBits < 224;
  return false;
}

function isWeakSignature(algorithm: string): boolean {
  return WEAK_SIGNATURE.test(algorithm) || WEAK_SIGNATURE_OIDS.has(algorithm);
}

function plaintextMechanisms(r: HandshakeResult): string[] {
  // With implicit TLS there is no plaintext stage; capabilities should be absent then anyway.
  if (r.tlsMode === TlsMode.TLS_MODE_IMPLICIT || r.tls?.implicit) return [];
  return r.capabilities?.authMechanisms ?? [];
}

function certName(cert: Certificate): string {
  const cn = /(?:^|[,/]\s*)CN=([^,/]+)/.exec(cert.subject)?.[1]?.trim();
  return cn || cert.subject || cert.subjectAltNames[0] || "(no subject)";
}

/**
 * The reply's meaning as the engine gave it (the transcript shows the same), then what the server
 * said. A reply without one (an older agent) gets the meaning its code has at `moment`.
 */
function replyText(reply: Reply, moment: ReplyMoment): string {
  const meaning = reply.meaning || describeReply(reply.code, reply.enhancedCode || undefined, moment);
  // The enhanced code is already in the meaning; the rest often names the blocklist or the cause.
  let text = (reply.lines[0] ?? "").trim();
  if (reply.enhancedCode && text.startsWith(reply.enhancedCode)) text = text.slice(reply.enhancedCode.length).trim();
  return text ? `${meaning} (server said ${quote(text, REPLY_QUOTE_CHARS)})` : meaning;
}

function reasonText(r: HandshakeResult): string {
  return r.reason || "no reason given";
}

const REPLY_QUOTE_CHARS = 120;
const INJECTION_QUOTE_CHARS = 60;

/** A short, single-line, quoted prefix of text the server controls. */
function quote(text: string, max: number): string {
  const escaped = escapeLine(text);
  return `"${escaped.length > max ? `${escaped.slice(0, max)}…` : escaped}"`;
}

function isValidDate(date: Date | undefined): date is Date {
  return date instanceof Date && !Number.isNaN(date.getTime());
}

function formatDate(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

function joinAnd(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
