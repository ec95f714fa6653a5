// When a coordinator looks at each monitor, decided without I/O: the start of each run (spread
// over the start of its interval, at an offset fixed per monitor), and the queue of monitors by
// the time of their next look (a min-heap), so that a tick costs nothing while no run is due,
// however many monitors there are. Pure.
import { dueRun, type MonitorRecord } from "./monitor-records.js";

/** Runs start within this fraction of their interval after it begins... */
export const SPREAD_FRACTION = 0.1;
/** ...and at most this long after it: a daily monitor still runs within half a minute. */
export const MAX_SPREAD_MS = 30_000;

/**
 * How long after its interval begins each run of the monitor starts: from its id (a random UUID),
 * below min(interval × SPREAD_FRACTION, MAX_SPREAD_MS), so that monitors created at the same
 * instant do not all run at the same instant.
 */
export function runOffsetMs(record: Pick<MonitorRecord, "monitorId" | "intervalMs">): number {
  const spread = Math.min(Math.floor(record.intervalMs * SPREAD_FRACTION), MAX_SPREAD_MS);
  const fraction = Number.parseInt(record.monitorId.slice(0, 8), 16) / 2 ** 32;
  return Number.isFinite(fraction) ? Math.floor(fraction * spread) : 0;
}

/** When run `run` starts. */
export function runStartsAt(record: Pick<MonitorRecord, "monitorId" | "createdAt" | "intervalMs">, run: number): number {
  return record.createdAt + run * record.intervalMs + runOffsetMs(record);
}

/**
 * When to look at the monitor next, at `now`: at the start of the current run when it has not
 * been looked at yet (`lookedAt` false: just learnt of, it may be claimable still, or started
 * already), else at the start of the next run.
 */
export function nextLookAt(record: Pick<MonitorRecord, "monitorId" | "createdAt" | "intervalMs">, now: number, lookedAt: boolean): number {
  const run = dueRun(record, now);
  if (run === 0) return runStartsAt(record, 1);
  return runStartsAt(record, lookedAt ? run + 1 : run);
}

/**
 * Ids by the time each is due, earliest first. schedule() replaces an id's time; remove() drops
 * it. Entries replaced or removed stay in the heap until they come up and are skipped (the heap
 * holds at most a few entries per id: one per schedule() since it last came up).
 */
export class DueQueue {
  private readonly heap: { at: number; id: string }[] = [];
  private readonly due = new Map<string, number>();

  get size(): number {
    return this.due.size;
  }

  schedule(id: string, at: number): void {
    this.due.set(id, at);
    this.heap.push({ at, id });
    this.up(this.heap.length - 1);
  }

  remove(id: string): void {
    this.due.delete(id);
  }

  /** The time of the earliest id, or undefined when none. */
  peek(): number | undefined {
    this.dropStale();
    return this.heap[0]?.at;
  }

  /** The earliest id if it is due at `now` (removed from the queue), else undefined. */
  popDue(now: number): string | undefined {
    this.dropStale();
    const top = this.heap[0];
    if (!top || top.at > now) return undefined;
    this.pop();
    this.due.delete(top.id);
    return top.id;
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.due.get(this.heap[0]!.id) !== this.heap[0]!.at) this.pop();
    // A heap many times larger than its ids (an id rescheduled often before coming up): rebuilt.
    if (this.heap.length > 4 * this.due.size + 64) {
      this.heap.length = 0;
      for (const [id, at] of this.due) {
        this.heap.push({ at, id });
        this.up(this.heap.length - 1);
      }
    }
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    this.down(0);
  }

  private up(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && heap[left]!.at < heap[least]!.at) least = left;
      if (right < heap.length && heap[right]!.at < heap[least]!.at) least = right;
      if (least === i) return;
      [heap[least], heap[i]] = [heap[i]!, heap[least]!];
      i = least;
    }
  }
}
