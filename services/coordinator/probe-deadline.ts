// The deadline a probe runs with: the request's options.timeouts.deadline_ms, or the caller's gRPC
// deadline (less the time the coordinator keeps back to answer) when that comes sooner. Which of
// the two bounded the probe decides how a task it cuts short is reported: the caller's deadline is
// the caller's, never the target's failure (fan-out.ts, the agents' task-run.ts). Pure.

/** Kept back from the caller's gRPC deadline, so that the report travels back before it passes. */
export const CALLER_REPLY_MARGIN_MS = 50;

/**
 * The shortest deadline a probe runs with; a shorter one is refused at once, never answered with a
 * report in which nothing could happen. In that time a task goes out over NATS, an agent takes
 * it and connects, and its result comes back: fan-out.ts keeps a fifth of the time for the trip
 * back, which leaves an agent 80 ms — a banner from a server near the agent, a few ms on loopback.
 * Shorter, a probe can only end on the deadline.
 */
export const MIN_PROBE_DEADLINE_MS = 100;

export interface ProbeDeadline {
  /** When every task has ended, as Date.now() milliseconds. */
  deadlineAt: number;
  /** deadlineAt less the time the probe started: the deadline as used (ProbeReport.deadline_ms). */
  deadlineMs: number;
  /** The caller's gRPC deadline, not the request's deadline_ms, set deadlineAt. */
  callerBound: boolean;
}

export interface ProbeDeadlineInput {
  /** Date.now() when the probe starts. */
  now: number;
  /** The request's deadline, defaults filled in (validate-request.ts), in ms. */
  requestDeadlineMs: number;
  /** The caller's gRPC deadline as Date.now() milliseconds; Infinity when it set none. */
  callDeadline: number;
}

export type ProbeDeadlineResult = { ok: true; deadline: ProbeDeadline } | { ok: false; leftMs: number; message: string };

/**
 * The probe's deadline, or why the caller's gRPC deadline is too short to probe anything. The
 * request's own deadline_ms is checked at validation (validate-request.ts: at least
 * MIN_PROBE_DEADLINE_MS), so only the call's deadline can be too short here.
 */
export function probeDeadline({ now, requestDeadlineMs, callDeadline }: ProbeDeadlineInput): ProbeDeadlineResult {
  const callerLeftMs = Number.isFinite(callDeadline) ? Math.floor(callDeadline - CALLER_REPLY_MARGIN_MS - now) : Number.POSITIVE_INFINITY;
  const callerBound = callerLeftMs < requestDeadlineMs;
  if (callerBound && callerLeftMs < MIN_PROBE_DEADLINE_MS) {
    const leftMs = Math.max(0, callerLeftMs);
    return {
      ok: false,
      leftMs,
      message:
        `the call's deadline leaves ${leftMs} ms for the probe (after the ${CALLER_REPLY_MARGIN_MS} ms the coordinator keeps to answer); ` +
        `a probe needs at least ${MIN_PROBE_DEADLINE_MS} ms: give the call a deadline of at least ${MIN_PROBE_DEADLINE_MS + CALLER_REPLY_MARGIN_MS} ms`,
    };
  }
  const deadlineMs = callerBound ? callerLeftMs : requestDeadlineMs;
  return { ok: true, deadline: { deadlineAt: now + deadlineMs, deadlineMs, callerBound } };
}
