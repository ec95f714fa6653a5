// Node's timers fire at once for a delay above 2^31 - 1 ms (about 24.8 days), with a warning:
// every timer whose delay comes from a caller or a message is clamped to this first.

/** The longest delay setTimeout and setInterval honour. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay clamped to what setTimeout honours: never negative, never above MAX_TIMER_MS. */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}
