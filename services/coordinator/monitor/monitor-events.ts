// The monitors' events, kept: each run's MonitorEvent is appended by the coordinator that ran it to
// a JetStream stream with limits (a RecordLog), on the monitor's event subject. The append is also
// the publish live watchers receive (JetStream stores what is published on its subjects), so a
// watch from now on subscribes to the subject as before, and a watch resumed after a run follows
// the stream from there. An event is stored once: its id is `<monitor>.<run>`.
import { MonitorEvent } from "../../../gen/smtpprobe/v1/monitor.js";
import type { Bus, RecordLog } from "../../../lib/bus.js";
import type { Logger } from "../../../lib/logger.js";
import { monitorEventSubject } from "./monitor-store.js";

export const MONITOR_EVENT_STREAM = { name: "SMTPPROBE_MONITOR_EVENTS", subjects: monitorEventSubject("*") } as const;

/**
 * How long events are kept, and the stream's size bound: the oldest go first when it is reached.
 * A week of runs of a monitor every minute is about 10,000 events; at a few KiB each (a report of
 * a few regions and ports) the bound holds a week of a few dozen such monitors, and fewer days of
 * more. 256 MiB is the report store's default too: the three streams fit a 1 GiB JetStream store.
 */
export const MONITOR_EVENT_LIMITS = { maxAgeMs: 7 * 24 * 3_600_000, maxBytes: 256 * 1024 * 1024 } as const;

/** An append repeated within this window (a coordinator retrying after a lost acknowledgement) is stored once. */
const DUPLICATE_WINDOW_MS = 3_600_000;

export class MonitorEventLog {
  private constructor(private readonly log: RecordLog) {}

  /** The log, or undefined without JetStream (embedded mode). */
  static async open(bus: Bus, limits: { maxAgeMs: number; maxBytes: number } = MONITOR_EVENT_LIMITS): Promise<MonitorEventLog | undefined> {
    const log = await bus.recordLog({ ...MONITOR_EVENT_STREAM, ...limits, duplicateWindowMs: DUPLICATE_WINDOW_MS });
    return log ? new MonitorEventLog(log) : undefined;
  }

  /** Stores the event once, and so publishes it to the monitor's live watchers. */
  async keep(event: MonitorEvent): Promise<{ duplicate: boolean }> {
    const { duplicate } = await this.log.append(monitorEventSubject(event.monitorId), MonitorEvent.encode(event).finish(), `${event.monitorId}.${event.run}`);
    return { duplicate };
  }

  /**
   * The monitor's kept events of the runs after `afterRun`, in the order they were kept, then new
   * ones as they are kept, until the signal aborts; each with its size encoded. The order kept is
   * the runs' order: a run's probe ends by its interval's end, before the next run starts.
   */
  async *follow(monitorId: string, afterRun: number, signal: AbortSignal): AsyncIterable<{ event: MonitorEvent; bytes: number }> {
    for await (const record of this.log.follow(monitorEventSubject(monitorId), 0, signal)) {
      let event: MonitorEvent;
      try {
        event = MonitorEvent.decode(record.data);
      } catch {
        continue; // not ours: only coordinators write there
      }
      if (event.run > afterRun) yield { event, bytes: record.data.length };
    }
  }

  /** The monitor's last kept event; undefined when none is kept (or what is kept is not one). */
  async last(monitorId: string): Promise<MonitorEvent | undefined> {
    const data = await this.log.last(monitorEventSubject(monitorId));
    if (!data) return undefined;
    try {
      return MonitorEvent.decode(data);
    } catch {
      return undefined; // not ours: only coordinators write there
    }
  }

  /** Removes the monitor's events (when it is deleted). */
  purge(monitorId: string): Promise<void> {
    return this.log.purge(monitorEventSubject(monitorId));
  }
}

/**
 * The run's event to the log (after the run's state is kept), or only to the live watchers when
 * there is no log or it did not take the event: a watcher from now on still sees it, a resumed
 * watch will not. (When the append was stored but its acknowledgement lost, the stream stores the
 * plain publish too: watches send a run once whatever the number of times it is kept.)
 */
export async function keepMonitorEvent(events: MonitorEventLog | undefined, bus: Bus, event: MonitorEvent, logger: Logger): Promise<void> {
  if (events) {
    try {
      await events.keep(event);
      return;
    } catch (error) {
      logger.warn({ err: error, monitorId: event.monitorId, run: event.run }, "a monitor's event could not be kept; published to live watchers only");
    }
  }
  bus.publish(monitorEventSubject(event.monitorId), MonitorEvent.encode(event).finish());
}
