// Plain-language meanings of SMTP reply codes and enhanced status codes, for operators.
// The wording is part of the product: it ends up in findings, the CLI and the API.
import { Direction, type TranscriptEntry } from "../../gen/smtpprobe/v1/handshake.js";
import { ReplyMoments, type ReplyMoment } from "./reply-moment.js";

// RFC 3463 §2: class "." subject "." detail; class 2, 4 or 5, subject and detail 1 to 3 digits.
const ENHANCED_CODE = /^[ \t]*([245])\.(\d{1,3})\.(\d{1,3})(?=[ \t]|$)/;

/**
 * The RFC 3463 enhanced status code at the start of a reply's first line text, when there is one
 * whose class matches the reply code's first digit (RFC 2034 §4 requires them to agree).
 */
export function parseEnhancedCode(code: number, firstLineText: string): string | undefined {
  const match = ENHANCED_CODE.exec(firstLineText);
  if (!match || String(Math.trunc(code / 100)) !== match[1]) return undefined;
  return `${match[1]}.${match[2]}.${match[3]}`;
}

/**
 * One sentence saying what a reply means, e.g.
 * "550 5.7.1: mailbox unavailable or action refused — ...; 5.7.1: delivery not authorized, ...".
 * `moment` is what the reply answers (reply-moment.ts): the same code means one thing as a banner,
 * another to EHLO, another sent on its own. Without it, the meaning a code has in general.
 */
export function describeReply(code: number, enhancedCode?: string, moment?: ReplyMoment): string {
  const enhanced = enhancedCode ? describeEnhancedCode(enhancedCode, moment) : undefined;
  const head = enhanced ? `${code} ${enhancedCode}` : `${code}`;
  const base = `${head}: ${meaningAt(code, moment)}`;
  return enhanced ? `${base}; ${enhancedCode}: ${enhanced}` : base;
}

/**
 * The meaning of every reply in a transcript, by the index of the entry that holds the reply's
 * last line: the moment of each reply replayed from the recorded order of lines, as the session
 * decided it when they arrived, so the transcript and the result's replies say the same.
 */
export function transcriptReplyMeanings(entries: readonly TranscriptEntry[]): Map<number, string> {
  const meanings = new Map<number, string>();
  const moments = new ReplyMoments();
  let firstLine: string | undefined;
  let tls = false;
  entries.forEach((entry, index) => {
    if (entry.tls && !tls) {
      // The session drops an unfinished plaintext reply when TLS starts (RFC 3207 §6).
      moments.dropUnfinished();
      firstLine = undefined;
    }
    tls ||= entry.tls;
    if (entry.direction === Direction.DIRECTION_CLIENT) moments.sent(entry.text);
    if (entry.direction !== Direction.DIRECTION_SERVER || !REPLY_LINE.test(entry.text)) return;
    firstLine ??= entry.text.slice(4);
    const moment = moments.received(entry.text);
    if (!moment) return;
    const code = Number(entry.text.slice(0, 3));
    meanings.set(index, describeReply(code, parseEnhancedCode(code, firstLine), moment));
    firstLine = undefined;
  });
  return meanings;
}

// A line the reply reader takes as part of a reply (anything else stops the session there).
const REPLY_LINE = /^[2-5]\d\d([- ]|$)/;

function meaningAt(code: number, moment: ReplyMoment | undefined): string {
  const key = moment === undefined ? undefined : momentKey(moment);
  const klass = `${Math.trunc(code / 100)}xx`;
  const specific = key === undefined ? undefined : (MOMENT_REPLIES[`${key} ${code}`] ?? MOMENT_REPLIES[`${key} ${klass}`]);
  const general = REPLY_CODES[code] ?? genericMeaning(code);
  if (specific !== undefined) return specific;
  // Whatever it says, a reply nobody asked for is not an answer to anything.
  return moment?.kind === "unsolicited" ? `sent on its own, not in answer to a command — ${general}` : general;
}

const BEFORE_MAIL: ReadonlySet<string> = new Set(["EHLO", "HELO", "STARTTLS", "QUIT"]);

function isBeforeMail(moment: ReplyMoment): boolean {
  return moment.kind !== "command" || BEFORE_MAIL.has(moment.verb);
}

function momentKey(moment: ReplyMoment): string {
  return moment.kind === "command" ? moment.verb : moment.kind;
}

const GREETING_REPLIES = (verb: "EHLO" | "HELO"): Record<string, string> => ({
  [`${verb} 421`]: `the server closes the connection instead of answering ${verb} — a temporary refusal (often a connection limit or overload), try again later`,
  [`${verb} 501`]: `the server refused the name given in ${verb} as malformed (RFC 5321 §4.1.4)`,
  [`${verb} 4xx`]: `the server turns the greeting away for now — often a check of the client's reverse DNS or of the ${verb} name that did not complete, try again later`,
  [`${verb} 5xx`]: `the server refuses the greeting — often its policy on the client's reverse DNS or on the name given in ${verb}`,
});

// What a code means at a moment, where that differs from its general meaning: "<moment> <code>",
// then "<moment> <class>xx". Moments: "banner", "unsolicited", or a command's verb.
const MOMENT_REPLIES: Readonly<Record<string, string>> = {
  // RFC 5321 §3.1, §4.3.2: a server greets with 220, or refuses the client with 554 (or 421 for now).
  "banner 421": "the server turns the connection away for now and closes it — a temporary refusal (often overload, a connection limit or rate limiting), try again later",
  "banner 521": "the host does not accept mail at all (RFC 7504)",
  "banner 550": "the server refuses connections from this client — a policy refusal of the connection (often a blocklist, or the client's address or reverse DNS), not about any mailbox",
  "banner 554": "the server refuses to talk to us — it turns away connections from this client (RFC 5321 §3.1), often a blocklist or policy rejection",
  "banner 4xx": "the server turns the connection away for now, try again later",
  "banner 5xx": "the server refuses connections from this client",
  "EHLO 250": "hello accepted, extensions listed",
  // RFC 5321 §3.2: a server without EHLO answers 500 or 502; the client falls back to HELO.
  "EHLO 500": "EHLO not recognized — a server without SMTP extensions; the client falls back to HELO (RFC 5321 §3.2)",
  "EHLO 502": "EHLO not implemented — a server without SMTP extensions; the client falls back to HELO (RFC 5321 §3.2)",
  "EHLO 504": "EHLO parameter not implemented; the client falls back to HELO (RFC 5321 §3.2)",
  ...GREETING_REPLIES("EHLO"),
  "HELO 250": "hello accepted (no extensions with HELO)",
  ...GREETING_REPLIES("HELO"),
  "STARTTLS 220": "ready to start TLS (RFC 3207 §4)",
  "STARTTLS 454": "TLS not available for now (RFC 3207 §4), try again later",
  "STARTTLS 501": "STARTTLS takes no parameters (RFC 3207 §4)",
  "STARTTLS 500": "STARTTLS not recognized — the server does not support TLS",
  "STARTTLS 502": "STARTTLS not implemented — the server does not support TLS",
  "STARTTLS 4xx": "TLS not available for now, try again later",
  "STARTTLS 5xx": "the server refuses to start TLS",
  // A server closes an idle session with 421 (RFC 5321 §3.8, §4.5.3.2.7).
  "unsolicited 421": "the server closed the session on its own, not in answer to a command — usually its idle timeout, or it is shutting down",
};

// RFC 5321 §4.2.2 and §4.2.3, plus the extension codes an operator meets during a handshake.
const REPLY_CODES: Readonly<Record<number, string>> = {
  211: "system status or help reply",
  214: "help message for a human reader",
  220: "service ready — the server accepts the connection",
  221: "service closing the connection, as asked",
  235: "authentication succeeded (RFC 4954)",
  250: "requested action completed",
  251: "user not local, the server will forward the message",
  252: "cannot verify the user, but the server will accept the message and attempt delivery",
  334: "authentication challenge, the server waits for the client's answer (RFC 4954)",
  354: "start mail input, the server waits for the message ending with <CRLF>.<CRLF>",
  421: "service not available, closing the connection — a temporary refusal (often overload, rate limiting or greylisting), try again later",
  432: "a password transition is needed before authenticating (RFC 4954)",
  450: "mailbox unavailable for now (busy, or temporarily blocked for policy reasons, e.g. greylisting), try again later",
  451: "action aborted, local error in processing on the server, try again later",
  452: "insufficient system storage on the server (or too many recipients), try again later",
  454: "temporary failure — TLS or authentication is not available right now (RFC 3207, RFC 4954)",
  455: "the server cannot accommodate the parameters for now, try again later",
  500: "syntax error, command unrecognized (or the command line was too long)",
  501: "syntax error in parameters or arguments",
  502: "command not implemented",
  503: "bad sequence of commands",
  504: "command parameter not implemented",
  521: "the host does not accept mail at all (RFC 7504)",
  530: "authentication required before this command (RFC 4954)",
  534: "authentication mechanism is too weak (RFC 4954)",
  535: "authentication credentials invalid (RFC 4954)",
  538: "encryption required for the requested authentication mechanism (RFC 4954)",
  550: "mailbox unavailable or action refused — not found, no access, or rejected by policy",
  551: "user not local, the server will not forward the message",
  552: "action aborted, exceeded storage allocation (message too big or mailbox full)",
  553: "mailbox name not allowed (address syntax or policy)",
  554: "transaction failed — the server refuses to talk to us (often a blocklist or policy rejection)",
  555: "MAIL FROM or RCPT TO parameters not recognized or not implemented",
  556: "the recipient's domain does not accept mail (RFC 7504)",
};

// RFC 5321 §4.2.1: the first digit says how it went, the second what it is about.
const FIRST_DIGIT: Readonly<Record<string, { what: string; then: string }>> = {
  "2": { what: "success", then: "" },
  "3": { what: "intermediate reply", then: "the server waits for more" },
  "4": { what: "temporary failure", then: "try again later" },
  "5": { what: "permanent failure", then: "do not retry as is" },
};
const SECOND_DIGIT: Readonly<Record<string, string>> = {
  "0": "syntax",
  "1": "information",
  "2": "connection",
  "5": "mail system",
};

function genericMeaning(code: number): string {
  const digits = String(code);
  const first = Number.isInteger(code) && code >= 200 && code <= 599 ? FIRST_DIGIT[digits[0] ?? ""] : undefined;
  if (!first) return "not a valid SMTP reply code";
  const topic = SECOND_DIGIT[digits[1] ?? ""];
  return `${first.what}${topic ? ` (${topic})` : ""}${first.then ? `, ${first.then}` : ""}`;
}

// RFC 3463 §3 subjects, and the detail codes of the IANA "Enumerated Status Codes" registry
// (RFC 5248) with the RFCs that added to it. Meanings are the same in classes 4 and 5.
const SUBJECTS: Readonly<Record<string, string>> = {
  "0": "other or undefined status",
  "1": "an addressing problem",
  "2": "a mailbox problem",
  "3": "a mail system problem",
  "4": "a network or routing problem",
  "5": "a mail delivery protocol problem",
  "6": "a message content or media problem",
  "7": "a security or policy problem",
};

const DETAILS: Readonly<Record<string, string>> = {
  "0.0": "other undefined status",
  "1.0": "other address status",
  "1.1": "bad destination mailbox address (no such user)",
  "1.2": "bad destination system address (no such domain)",
  "1.3": "bad destination mailbox address syntax",
  "1.4": "destination mailbox address ambiguous",
  "1.5": "destination address valid",
  "1.6": "destination mailbox has moved, no forwarding address",
  "1.7": "bad sender's mailbox address syntax",
  "1.8": "bad sender's system address",
  "1.9": "message relayed to a non-compliant mailer (RFC 3886)",
  "1.10": "recipient address has a null MX (RFC 7505)",
  "2.0": "other or undefined mailbox status",
  "2.1": "mailbox disabled, not accepting messages",
  "2.2": "mailbox full",
  "2.3": "message length exceeds an administrative limit",
  "2.4": "mailing list expansion problem",
  "3.0": "other or undefined mail system status",
  "3.1": "mail system full",
  "3.2": "system not accepting network messages",
  "3.3": "system not capable of the selected features",
  "3.4": "message too big for the system",
  "3.5": "system incorrectly configured",
  "3.6": "requested priority was changed (RFC 6710)",
  "4.0": "other or undefined network or routing status",
  "4.1": "no answer from host",
  "4.2": "bad connection",
  "4.3": "directory server (e.g. DNS) failure",
  "4.4": "unable to route",
  "4.5": "mail system congestion",
  "4.6": "routing loop detected",
  "4.7": "delivery time expired",
  "5.0": "other or undefined protocol status",
  "5.1": "invalid command",
  "5.2": "syntax error",
  "5.3": "too many recipients",
  "5.4": "invalid command arguments",
  "5.5": "wrong protocol version",
  "5.6": "authentication exchange line is too long (RFC 4954)",
  "6.0": "other or undefined media error",
  "6.1": "media not supported",
  "6.2": "conversion required and prohibited",
  "6.3": "conversion required but not supported",
  "6.4": "conversion with loss performed",
  "6.5": "conversion failed",
  "6.6": "message content not available (RFC 4468)",
  "6.7": "non-ASCII addresses not permitted for that sender or recipient (RFC 6531)",
  "6.8": "UTF-8 string reply required, but not permitted by the client (RFC 6531)",
  "6.9": "UTF-8 header message cannot be transferred to one or more recipients (RFC 6531)",
  "7.0": "a security or policy problem, unspecified (often TLS or authentication required first, or a block)",
  "7.1": "delivery not authorized, message refused (often relaying denied or a policy block)",
  "7.2": "mailing list expansion prohibited",
  "7.3": "security conversion required but not possible",
  "7.4": "security features not supported",
  "7.5": "cryptographic failure",
  "7.6": "cryptographic algorithm not supported",
  "7.7": "message integrity failure",
  "7.8": "authentication credentials invalid (RFC 4954)",
  "7.9": "authentication mechanism is too weak (RFC 4954)",
  "7.10": "encryption needed (RFC 5248)",
  "7.11": "encryption required for the requested authentication mechanism (RFC 4954)",
  "7.12": "a password transition is needed (RFC 4954)",
  "7.13": "user account disabled (RFC 5248)",
  "7.14": "trust relationship required (RFC 5248)",
  "7.15": "priority level is too low (RFC 6710)",
  "7.16": "message is too big for the specified priority (RFC 6710)",
  "7.17": "mailbox owner has changed (RFC 7293)",
  "7.18": "domain owner has changed (RFC 7293)",
  "7.19": "RRVS test cannot be completed (RFC 7293)",
  "7.20": "no passing DKIM signature found (RFC 7372)",
  "7.21": "no acceptable DKIM signature found (RFC 7372)",
  "7.22": "no valid author-matched DKIM signature found (RFC 7372)",
  "7.23": "SPF validation failed (RFC 7372)",
  "7.24": "SPF validation error (RFC 7372)",
  "7.25": "reverse DNS validation failed (RFC 7372)",
  "7.26": "multiple authentication checks failed — SPF, DKIM and DMARC did not pass (RFC 7372)",
  "7.27": "sender address has a null MX (RFC 7505)",
  "7.29": "ARC validation failure (RFC 8617)",
  "7.30": "REQUIRETLS support required (RFC 8689)",
};

// Before any mail is sent (the banner, the greeting, STARTTLS, a reply on its own) nothing is
// delivered: a detail that speaks of delivery says what it means for the connection instead.
const CONNECTION_DETAILS: Readonly<Record<string, string>> = {
  "7.1": "not authorized — refused by the server's policy (often a blocklist or a check of the client)",
};

function describeEnhancedCode(enhancedCode: string, moment?: ReplyMoment): string | undefined {
  const match = /^([245])\.(\d{1,3})\.(\d{1,3})$/.exec(enhancedCode);
  if (!match) return undefined;
  const [, klass, subject, detail] = match;
  // Leading zeros do not change a number: "5.07.001" is 5.7.1.
  const key = `${Number(subject)}.${Number(detail)}`;
  const meaning = (moment && isBeforeMail(moment) ? CONNECTION_DETAILS[key] : undefined) ?? DETAILS[key];
  if (klass === "2") return meaning && Number(detail) !== 0 ? `success, ${meaning}` : "success";
  return meaning ?? SUBJECTS[String(Number(subject))] ?? "an unknown kind of problem";
}
