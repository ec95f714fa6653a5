// What a failed handshake means: a connect error, a TLS error, a failed wait for the server, an
// unexpected reply, the deadline or the caller's cancel, each turned into the outcome, where the
// failure came from and a reason a person reads. Pure: the handshake hands in what Node gave it.
import { FailureSource, Outcome, Phase, type Reply } from "../../gen/smtpprobe/v1/handshake.js";
import { phaseLabel } from "./phases.js";
import { SessionWaitError, type WaitFailure } from "./session.js";

/** Why a handshake stopped, as its result reports it. */
export interface HandshakeFailure {
  outcome: Outcome;
  source: FailureSource;
  reason: string;
}

const TARGET = FailureSource.FAILURE_SOURCE_TARGET;
const NETWORK = FailureSource.FAILURE_SOURCE_NETWORK;
const INTERNAL = FailureSource.FAILURE_SOURCE_INTERNAL;

function failure(outcome: Outcome, source: FailureSource, reason: string): HandshakeFailure {
  return { outcome, source, reason };
}

/**
 * A failed TCP connect to `where` ("192.0.2.1:25"): the socket's error (an errno code), or a
 * timeout or close while waiting for "connect".
 */
export function classifyConnectError(error: unknown, where: string): HandshakeFailure {
  if (error instanceof SessionWaitError) return classifyWaitFailure(error.failure, "the TCP connection", Phase.PHASE_CONNECT);
  const code = (error as NodeJS.ErrnoException).code ?? "";
  switch (code) {
    case "ECONNREFUSED":
      // A RST in answer to the SYN: the host is there and says no.
      return failure(Outcome.OUTCOME_REFUSED, TARGET, `connection to ${where} refused (nothing listens, or a firewall rejects)`);
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EADDRNOTAVAIL":
    case "EAFNOSUPPORT":
      return failure(Outcome.OUTCOME_UNREACHABLE, NETWORK, `${where} is unreachable from here (${code})`);
    case "ETIMEDOUT":
      return failure(Outcome.OUTCOME_TIMED_OUT, NETWORK, `connecting to ${where} timed out (${code})`);
    case "ECONNRESET":
      return failure(Outcome.OUTCOME_RESET, NETWORK, `connection to ${where} was reset while connecting`);
    default:
      return failure(Outcome.OUTCOME_UNREACHABLE, NETWORK, `connecting to ${where} failed: ${code || String(error)}`);
  }
}

/**
 * A wait that ended without what the phase waited for: a SessionWaitError, or during a TLS
 * handshake the TLS socket's own error. Undefined for anything else: that is a bug of ours.
 * `what` names what was waited for in the reason ("the banner", "the TLS handshake").
 */
export function classifyWaitError(error: unknown, what: string, phase: Phase): HandshakeFailure | undefined {
  if (error instanceof SessionWaitError) return classifyWaitFailure(error.failure, what, phase);
  if (isTlsPhase(phase)) return tlsFailed(error as NodeJS.ErrnoException);
  return undefined;
}

export function classifyWaitFailure(wait: WaitFailure, what: string, phase: Phase): HandshakeFailure {
  switch (wait.kind) {
    case "timeout":
      // No SYN-ACK in time is the path's doing; silence after connecting is the server's.
      return failure(Outcome.OUTCOME_TIMED_OUT, phase === Phase.PHASE_CONNECT ? NETWORK : TARGET, `${what} timed out after ${wait.timeoutMs} ms`);
    case "closed":
      return failure(Outcome.OUTCOME_CLOSED_BY_PEER, TARGET, `the server closed the connection during ${what}`);
    case "reset":
      return failure(Outcome.OUTCOME_RESET, TARGET, `the connection was reset during ${what}`);
    case "socket_error":
      return isTlsPhase(phase)
        ? tlsFailed(wait)
        : failure(Outcome.OUTCOME_RESET, TARGET, `the connection failed during ${what}: ${wait.code || wait.message}`);
    case "protocol":
      return failure(Outcome.OUTCOME_PROTOCOL_ERROR, TARGET, `protocol error during ${what}: ${wait.error.message}`);
    case "aborted":
      return failure(Outcome.OUTCOME_CANCELLED, INTERNAL, "cancelled");
  }
}

/**
 * A reply other than the one expected: 5xx rejected, 4xx deferred (RFC 5321 §4.2.1), anything
 * else a protocol error. `what` names the command or greeting it answered.
 */
export function classifyUnexpectedReply(reply: Reply, expected: number, what: string): HandshakeFailure {
  const first = reply.lines[0] ?? "";
  const reason = `${what} was answered ${reply.code}${first ? ` "${first.slice(0, 120)}"` : ""}`;
  if (reply.code >= 500) return failure(Outcome.OUTCOME_REJECTED, TARGET, reason);
  if (reply.code >= 400) return failure(Outcome.OUTCOME_DEFERRED, TARGET, reason);
  return failure(Outcome.OUTCOME_PROTOCOL_ERROR, TARGET, `${reason}, expected ${expected}`);
}

/** TLS required, and the server would not start it. */
export function starttlsRefused(reply: Reply): HandshakeFailure {
  return failure(Outcome.OUTCOME_STARTTLS_UNAVAILABLE, TARGET, `TLS is required but the server answered STARTTLS with ${reply.code}`);
}

/** The connection was up, and the policy forbade the peer it reached. */
export function connectedPeerDenied(why: string): HandshakeFailure {
  return failure(Outcome.OUTCOME_POLICY_DENIED, FailureSource.FAILURE_SOURCE_POLICY, `closed right after connecting: ${why}`);
}

/** The whole probe's deadline passed. Counted against the target: it was too slow for us. */
export function deadlinePassed(deadlineMs: number): HandshakeFailure {
  return failure(Outcome.OUTCOME_DEADLINE_EXCEEDED, TARGET, `the probe's deadline of ${deadlineMs} ms passed`);
}

export function cancelledByCaller(): HandshakeFailure {
  return failure(Outcome.OUTCOME_CANCELLED, INTERNAL, "cancelled by the caller");
}

/** A bug of ours: the handshake threw something that is not a failure of the target. */
export function internalError(error: unknown): HandshakeFailure {
  return failure(Outcome.OUTCOME_INTERNAL_ERROR, INTERNAL, `internal error: ${error instanceof Error ? error.message : String(error)}`);
}

function isTlsPhase(phase: Phase): boolean {
  return phase === Phase.PHASE_TLS || phase === Phase.PHASE_TLS_CONNECT;
}

function tlsFailed(error: { code?: string; message: string }): HandshakeFailure {
  return failure(Outcome.OUTCOME_TLS_FAILED, TARGET, `the TLS handshake failed: ${describeTlsError(error)}`);
}

const TLS_ERRORS: Record<string, string> = {
  ERR_SSL_WRONG_VERSION_NUMBER: "the server did not answer with TLS (plaintext or garbage where a ServerHello was expected)",
  ERR_SSL_PACKET_LENGTH_TOO_LONG: "the server did not answer with TLS (plaintext where a TLS record was expected)",
  ERR_SSL_UNSUPPORTED_PROTOCOL: "no TLS version in common with the server",
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: "the server ended the handshake: no cipher or version in common",
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: "the server refused our TLS versions",
  ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR: "the server reported an internal TLS error",
  ERR_SSL_DH_KEY_TOO_SMALL: "the server's Diffie-Hellman key is too small to accept",
  ERR_SSL_EE_KEY_TOO_SMALL: "the server's certificate key is too small to accept",
  ECONNRESET: "the server reset the connection during the TLS handshake",
  EPIPE: "the server closed the connection during the TLS handshake",
};

/** An OpenSSL error in words a person reads, with its code kept for searching. */
export function describeTlsError(error: { code?: string; message: string }): string {
  const code = error.code ?? "";
  const known = TLS_ERRORS[code];
  if (known) return `${known} (${code})`;
  const first = error.message.split("\n")[0]?.trim() ?? "";
  return code ? `${code}: ${first}` : first;
}

/** What a phase waits for, as a reason names it: "timed out during the banner", "during EHLO". */
export function describePhaseWait(phase: Phase): string {
  return phase === Phase.PHASE_BANNER ? "the banner" : phaseLabel(phase);
}
