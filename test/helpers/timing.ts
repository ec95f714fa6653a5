// Wall-clock bounds for tests that assert how long something took. A bound is derived from the
// deadline under test, never a bare number: it says "ended by its deadline" (endsBy), "did not wait
// for it" (wellBefore) or "waited for it" (notBefore). The margins are named here, once, and sized
// for a loaded two-core CI machine, where timers fire late and child processes answer slowly.

/** Under load a timer fires late by a share of its delay... */
export const LATE_FRACTION = 0.5;
/** ...plus a fixed lateness inside the test's own process: a GC pause, a busy event loop. */
export const IN_PROCESS_SLACK_MS = 1_000;
/** ...or across child processes: a signal handled, a NATS hop, a gRPC reply, each on a busy core. */
export const CROSS_PROCESS_SLACK_MS = 2_000;
/** Two clocks, or two readings of one, a few milliseconds apart: the tolerance under a lower bound. */
export const CLOCK_TOLERANCE_MS = 50;

/** The latest that something bounded by `deadlineMs` may be seen to end. */
export function endsBy(deadlineMs: number, slackMs: number = IN_PROCESS_SLACK_MS): number {
  return deadlineMs * (1 + LATE_FRACTION) + slackMs;
}

/** Ended within half of `deadlineMs`: proof that the deadline was not what ended it. */
export function wellBefore(deadlineMs: number): number {
  return deadlineMs / 2;
}

/** The least that something which waits for `deadlineMs` may take: timers do not fire early. */
export function notBefore(deadlineMs: number): number {
  return deadlineMs - CLOCK_TOLERANCE_MS;
}
