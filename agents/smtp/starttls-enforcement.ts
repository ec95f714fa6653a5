// Does the server demand STARTTLS before it takes mail? On a plaintext session of its own: banner,
// EHLO, MAIL FROM:<>, then RSET and QUIT — never RCPT, never DATA, so no mail is ever begun.
// RFC 3207 §4 gives the answer of a server that does: 530 5.7.0 "Must issue a STARTTLS command
// first"; RFC 4954 §6 uses the same 530 5.7.0 for "Authentication required", told apart by its
// text. One connection, through the same rules as the handshake's (extra-connections.ts).
import {
  StarttlsEnforcementStatus,
  TlsMode,
  type HandshakeResult,
  type Reply,
  type StarttlsEnforcement,
} from "../../gen/smtpprobe/v1/handshake.js";
import { isOpened, type OpenConnection } from "./extra-connections.js";
import type { ResolvedOptions } from "./options.js";
import { describeReply, parseEnhancedCode } from "./reply-meaning.js";
import { SessionWaitError, SmtpSession, type SessionReply } from "./session.js";
import { TranscriptRecorder, elapsedSince } from "./transcript.js";

/** The mentions of TLS in a refusal that make it a demand for STARTTLS, whatever the code. */
const ASKS_FOR_TLS = /STARTTLS|\bTLS\b|\bSSL\b|encrypt/i;
const ASKS_FOR_AUTH = /auth/i;

/** What a reply to MAIL FROM:<> before STARTTLS says about enforcement. Pure. */
export function classifyMailReply(reply: Pick<Reply, "code" | "enhancedCode" | "lines">): StarttlsEnforcementStatus {
  if (reply.code >= 200 && reply.code < 300) return StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED;
  const text = reply.lines.join(" ");
  // X.7.10 "Encryption needed" (RFC 5248's registry) says it without words.
  if (ASKS_FOR_TLS.test(text) || reply.enhancedCode === "5.7.10" || reply.enhancedCode === "4.7.10") {
    return StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED;
  }
  if (reply.code === 530 && ASKS_FOR_AUTH.test(text)) return StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_AUTH_REQUIRED;
  // A bare 530 is the code RFC 3207 §4 gives for "STARTTLS first".
  if (reply.code === 530) return StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED;
  return StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REFUSED;
}

/** Why enforcement is not checked on this port, or undefined when it is. */
export function reasonNotToCheck(result: HandshakeResult, options: ResolvedOptions): string | undefined {
  if (options.tlsMode === TlsMode.TLS_MODE_IMPLICIT) return "implicit TLS: the port has no plaintext session to enforce STARTTLS on";
  if (!result.banner || result.banner.code !== 220) return "the handshake did not get a 220 banner";
  return undefined;
}

export interface EnforcementContext {
  open: OpenConnection;
  ehloName: string;
  /** Ends the check at once (the probe's deadline, the caller's cancel). */
  signal?: AbortSignal;
}

const TRANSCRIPT_BYTES = 16 * 1024;
const QUIT_WAIT_MS = 2000;

export async function checkStarttlsEnforcement(result: HandshakeResult, options: ResolvedOptions, context: EnforcementContext): Promise<StarttlsEnforcement> {
  const notNow = reasonNotToCheck(result, options);
  if (notNow) return notChecked(notNow, 0);
  const started = performance.now();
  const connection = await context.open();
  if (!isOpened(connection)) return notChecked(`no connection: ${connection.reason}`, elapsedSince(started));
  const session = new SmtpSession(connection.socket, new TranscriptRecorder(started, TRANSCRIPT_BYTES), {
    maxLineOctets: options.maxLineOctets,
    maxReplyLines: options.maxReplyLines,
  });
  const onAbort = (): void => session.destroy();
  context.signal?.addEventListener("abort", onAbort, { once: true });
  if (context.signal?.aborted) session.destroy();
  const step = async (what: string, line: string | undefined, timeoutMs: number): Promise<Reply | string> => {
    if (line !== undefined) session.send(line);
    try {
      return toReply(await session.readReply(timeoutMs));
    } catch (error) {
      if (error instanceof SessionWaitError) return `${what}: ${describeWait(error, timeoutMs)}`;
      throw error;
    }
  };
  try {
    const banner = await step("the banner", undefined, options.bannerMs);
    if (typeof banner === "string") return notChecked(banner, elapsedSince(started));
    if (banner.code !== 220) return notChecked(`the banner was ${banner.code} this time`, elapsedSince(started));
    let greeting = await step("EHLO", `EHLO ${context.ehloName}`, options.commandMs);
    // RFC 5321 §3.2: a server that does not know EHLO answers 500-504; HELO then.
    if (typeof greeting !== "string" && greeting.code >= 500 && greeting.code <= 504) {
      greeting = await step("HELO", `HELO ${context.ehloName}`, options.commandMs);
    }
    if (typeof greeting === "string") return notChecked(greeting, elapsedSince(started));
    if (greeting.code !== 250) return notChecked(`the greeting was refused with ${greeting.code}`, elapsedSince(started));
    const mail = await step("MAIL FROM", "MAIL FROM:<>", options.commandMs);
    if (typeof mail === "string") return notChecked(mail, elapsedSince(started));
    // Leave no transaction open, and say goodbye; their answers change nothing.
    await step("RSET", "RSET", Math.min(options.commandMs, QUIT_WAIT_MS));
    await step("QUIT", "QUIT", Math.min(options.commandMs, QUIT_WAIT_MS));
    const status = classifyMailReply(mail);
    return { status, reply: mail, reason: statusReason(status), totalMs: elapsedSince(started) };
  } finally {
    context.signal?.removeEventListener("abort", onAbort);
    session.destroy();
    connection.close();
  }
}

function statusReason(status: StarttlsEnforcementStatus): string {
  switch (status) {
    case StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_REQUIRED:
      return "MAIL before STARTTLS was refused with a demand for TLS";
    case StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED:
      return "MAIL before STARTTLS was accepted";
    case StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_AUTH_REQUIRED:
      return "MAIL before STARTTLS was refused with a demand for authentication";
    default:
      return "MAIL before STARTTLS was refused for another reason; the reply says which";
  }
}

function notChecked(reason: string, totalMs: number): StarttlsEnforcement {
  return { status: StarttlsEnforcementStatus.STARTTLS_ENFORCEMENT_STATUS_NOT_CHECKED, reply: undefined, reason, totalMs };
}

function toReply(reply: SessionReply): Reply {
  const enhancedCode = parseEnhancedCode(reply.code, reply.lines[0] ?? "") ?? "";
  return { code: reply.code, enhancedCode, lines: reply.lines, meaning: describeReply(reply.code, enhancedCode || undefined, reply.moment) };
}

function describeWait(error: SessionWaitError, timeoutMs: number): string {
  switch (error.failure.kind) {
    case "timeout":
      return `no reply within ${timeoutMs} ms`;
    case "closed":
      return "the server closed the connection";
    case "reset":
      return "the connection was reset";
    case "protocol":
      return `protocol error: ${error.failure.error.message}`;
    case "aborted":
      return "stopped";
    default:
      return "the connection failed";
  }
}
