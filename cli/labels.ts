// Words and numbers for people: outcome names, durations, and server text made safe for a
// terminal. Shared by the human output and the progress line. Phase names: agents/smtp/phases.ts.
import { Outcome } from "../gen/smtpprobe/v1/handshake.js";

const OUTCOME_LABELS: Readonly<Record<number, string>> = {
  [Outcome.OUTCOME_UNSPECIFIED]: "unknown",
  [Outcome.OUTCOME_OK]: "ok",
  [Outcome.OUTCOME_DNS_FAILED]: "DNS failed",
  [Outcome.OUTCOME_POLICY_DENIED]: "denied by policy",
  [Outcome.OUTCOME_REFUSED]: "refused",
  [Outcome.OUTCOME_TIMED_OUT]: "timed out",
  [Outcome.OUTCOME_UNREACHABLE]: "unreachable",
  [Outcome.OUTCOME_RESET]: "reset",
  [Outcome.OUTCOME_CLOSED_BY_PEER]: "closed by the server",
  [Outcome.OUTCOME_REJECTED]: "rejected",
  [Outcome.OUTCOME_DEFERRED]: "deferred",
  [Outcome.OUTCOME_PROTOCOL_ERROR]: "protocol error",
  [Outcome.OUTCOME_TLS_FAILED]: "TLS failed",
  [Outcome.OUTCOME_STARTTLS_UNAVAILABLE]: "STARTTLS unavailable",
  [Outcome.OUTCOME_DEADLINE_EXCEEDED]: "deadline exceeded",
  [Outcome.OUTCOME_CANCELLED]: "cancelled",
  [Outcome.OUTCOME_INTERNAL_ERROR]: "internal error",
  [Outcome.OUTCOME_THROTTLED]: "throttled",
  [Outcome.OUTCOME_NO_BANNER]: "no banner",
  [Outcome.OUTCOME_GREETING_REFUSED]: "greeting refused",
  [Outcome.OUTCOME_CALLER_DEADLINE]: "cut short by the caller's deadline",
};

export function outcomeLabel(outcome: Outcome): string {
  return OUTCOME_LABELS[outcome] ?? `outcome ${outcome}`;
}

/** "0.42 ms", "3.4 ms", "128 ms", "2.35 s". */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/**
 * Text from the server or its certificate, made safe for a terminal: C0 and C1 controls, DEL and
 * the Unicode bidi and zero-width controls shown as escapes instead of acted upon.
 */
export function safe(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
