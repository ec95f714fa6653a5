// The progress line of `smtp-probe batch` on a terminal: items reported of the total, the rate
// over the last few seconds, and the time left at that rate. Pure.

/** The rate is measured over this window, so that it follows changes (a coordinator lost, quotas). */
export const RATE_WINDOW_MS = 10_000;

export class BatchRate {
  private readonly marks: { at: number; done: number }[] = [];

  /** Records that `done` items were reported at `at` (ms). */
  mark(at: number, done: number): void {
    this.marks.push({ at, done });
    while (this.marks.length > 2 && this.marks[0]!.at < at - RATE_WINDOW_MS) this.marks.shift();
  }

  /** Items per second over the window; 0 until two marks span some time. */
  perSecond(): number {
    const first = this.marks[0];
    const last = this.marks.at(-1);
    if (!first || !last || last.at <= first.at) return 0;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }
}

/** "412/1000 items  38.2/s  0:15 left" (no time left while the rate is unknown). */
export function formatBatchProgress(done: number, total: number, perSecond: number): string {
  const rate = perSecond > 0 ? `  ${perSecond >= 100 ? Math.round(perSecond) : perSecond.toFixed(1)}/s` : "";
  const left = perSecond > 0 && done < total ? `  ${formatDuration((total - done) / perSecond)} left` : "";
  return `${done}/${total} items${rate}${left}`;
}

/** Seconds as "m:ss", or "h:mm:ss" from an hour. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
