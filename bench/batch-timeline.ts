// Where a batch's first report spends its time, seen from outside the coordinator: the bench's own
// NATS connection listens (plain subscriptions, no JetStream consumer: nothing is taken from the
// queue) to the batch items being published into the work queue, the probe tasks going to the
// agents' region and the items' reports being written, and marks when each is first seen. The
// bench adds its own marks (submit, CreateBatch answered, the watch's first event and first item).
import type { Bus } from "../lib/bus.js";
import { SUBJECTS } from "../lib/bus.js";
import { BATCH_SUBJECTS } from "../services/coordinator/batch/batch-store.js";

export interface BatchMarks {
  /** The CreateBatch call is made. */
  submit: number;
  /** CreateBatch answered. */
  created?: number;
  /** The first item, and the last, published into the work queue. */
  firstQueued?: number;
  lastQueued?: number;
  /** The first probe task sent to an agent. */
  firstTask?: number;
  /** The first item's report written to the reports' stream. */
  firstStored?: number;
  /** The watch's first event (progress), and its first item. */
  watchOpen?: number;
  firstReport?: number;
}

export interface BatchTimeline {
  /** Starts the marks of a new batch of `items` (the one before is forgotten). */
  begin(items: number): BatchMarks;
  stop(): void;
}

/** Listens on `bus` to the queue, the region's task subject and the reports. */
export function watchBatchTimeline(bus: Bus, region: string): BatchTimeline {
  let marks: BatchMarks | undefined;
  let queued = 0;
  let expected = 0;
  const subscriptions = [
    bus.subscribe(BATCH_SUBJECTS.items, () => {
      if (!marks) return;
      const now = performance.now();
      marks.firstQueued ??= now;
      if (++queued >= expected) marks.lastQueued ??= now;
    }),
    bus.subscribe(SUBJECTS.task(region), () => {
      if (marks) marks.firstTask ??= performance.now();
    }),
    bus.subscribe(BATCH_SUBJECTS.reports, () => {
      if (marks) marks.firstStored ??= performance.now();
    }),
  ];
  return {
    begin(items) {
      queued = 0;
      expected = items;
      marks = { submit: performance.now() };
      return marks;
    },
    stop: () => subscriptions.forEach((s) => s.unsubscribe()),
  };
}

export interface Breakdown {
  label: string;
  ms: number | undefined;
}

/**
 * The first report's time in steps, each from the step before (ms), and two spans beside them:
 * the submit call itself and the queueing of every item.
 */
export function breakDown(m: BatchMarks): { steps: Breakdown[]; submitCallMs?: number; allQueuedMs?: number } {
  const d = (from: number | undefined, to: number | undefined): number | undefined => (from === undefined || to === undefined ? undefined : to - from);
  return {
    steps: [
      { label: "submit → first item in the queue", ms: d(m.submit, m.firstQueued) },
      { label: "→ its probe task sent (a worker took it)", ms: d(m.firstQueued, m.firstTask) },
      { label: "→ its report stored (the probe)", ms: d(m.firstTask, m.firstStored) },
      { label: "→ the watch delivers it", ms: d(m.firstStored, m.firstReport) },
    ],
    submitCallMs: d(m.submit, m.created),
    allQueuedMs: d(m.submit, m.lastQueued),
  };
}
