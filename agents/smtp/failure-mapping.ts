// What a failed handshake means: a connect error, a TLS error, a failed wait for the server, an
// unexpected reply, the deadline or the caller's cancel, each turned into the outcome, where the
// failure came from and a reason a person reads. Pure: the handshake hands in what Node gave it.
import { FailureSource, Outcome, Phase, type Reply } from "../../gen/smtpprobe/v1/handshake.js";
import { phaseLabel } from "./phases.js";
import { SessionWaitError, type WaitFailure } from "./session.js";
import { escapeLine } from "./transcript.js";

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
 * else a protocol error. `what` names the command or greeting it answered; `unsolicited`: the
 * reply came before that command was sent, so it answers nothing (reply-moment.ts).
 */
export function classifyUnexpectedReply(reply: Reply, expected: number, what: string, unsolicited = false): HandshakeFailure {
  const said = `${reply.code}${quotedFirstLine(reply)}`;
  const reason = unsolicited ? `before ${what} was answered, the server sent ${said} on its own` : `${what} was answered ${said}`;
  if (reply.code >= 500) return failure(Outcome.OUTCOME_REJECTED, TARGET, reason);
  if (reply.code >= 400) return failure(Outcome.OUTCOME_DEFERRED, TARGET, reason);
  return failure(Outcome.OUTCOME_PROTOCOL_ERROR, TARGET, `${reason}, expected ${expected}`);
}

/**
 * The server answered our greeting (EHLO, or HELO after EHLO was not known) with 4xx or 5xx: it
 * will not talk to this client, by its policy on the client's address or the name it gave.
 */
export function greetingRefused(reply: Reply, command: string): HandshakeFailure {
  return failure(Outcome.OUTCOME_GREETING_REFUSED, TARGET, `${command} was answered ${reply.code}${quotedFirstLine(reply)}`);
}

/**
 * The banner timeout passed. Silence since the connection was made (`octets` 0) is NO_BANNER: an
 * implicit-TLS port waits so for the client's hello. Bytes that made no complete reply are a
 * timeout, and the reason says what they were.
 */
export function bannerNotReceived(timeoutMs: number, octets: number, firstBytes: Buffer): HandshakeFailure {
  if (octets === 0) {
    return failure(Outcome.OUTCOME_NO_BANNER, TARGET, `the banner timed out after ${timeoutMs} ms: the server sent nothing since the connection was made`);
  }
  const shown = escapeLine(firstBytes.toString("latin1")).slice(0, 120);
  const tls = looksLikeTlsRecord(firstBytes) ? ", a TLS record: the port speaks TLS from the first byte" : "";
  return failure(
    Outcome.OUTCOME_TIMED_OUT,
    TARGET,
    `the banner timed out after ${timeoutMs} ms: the server sent ${octets} byte${octets === 1 ? "" : "s"} but no complete reply ("${shown}${octets > firstBytes.length ? "…" : ""}"${tls})`,
  );
}

/** A TLS record header (RFC 8446 §5.1): content type 20-23, then legacy version 3.x. */
function looksLikeTlsRecord(bytes: Buffer): boolean {
  const [type = 0, major = 0, minor = 0] = bytes;
  return bytes.length >= 3 && type >= 20 && type <= 23 && major === 3 && minor <= 4;
}

function quotedFirstLine(reply: Reply): string {
  const first = reply.lines[0] ?? "";
  return first ? ` "${first.slice(0, 120)}"` : "";
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
