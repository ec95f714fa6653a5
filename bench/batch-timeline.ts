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
  let seen = 0;
  let expected = 0;
  const subscriptions = [
    bus.subscribe(BATCH_SUBJECTS.items, () => {
      // The batch's spool job goes to the same subject before its items (CreateBatch stores it, and
      // its taker queues them): the first message is not an item. Counted, never decoded: the
      // bench shares the machine with what it measures.
      if (!marks || ++seen === 1) return;
      const now = performance.now();
      marks.firstQueued ??= now;
      if (seen - 1 >= expected) marks.lastQueued ??= now;
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
      seen = 0;
      expected = items;
      marks = { submit: performance.now() };
      return marks;
    },
    stop: () => subscriptions.forEach((s) => s.unsubscribe()),
  };
}

export interface Breakdown {
  label: string;
  /** ms since the submit; undefined when the mark was not seen. */
  at: number | undefined;
}

/** The marks as ms since the submit, in the order of the first report's way. */
export function breakDown(m: BatchMarks): Breakdown[] {
  const at = (mark: number | undefined): number | undefined => (mark === undefined ? undefined : mark - m.submit);
  return [
    { label: "the first item is in the queue (the batch checked and stored, its spool job started)", at: at(m.firstQueued) },
    { label: "its probe task goes to the agent (a worker took the item, read the batch)", at: at(m.firstTask) },
    { label: "its report is stored (the probe, done)", at: at(m.firstStored) },
    { label: "CreateBatch answered", at: at(m.created) },
    { label: "the watch's first event (progress)", at: at(m.watchOpen) },
    { label: "the first report reaches the caller", at: at(m.firstReport) },
    { label: "every item is in the queue", at: at(m.lastQueued) },
  ];
}
