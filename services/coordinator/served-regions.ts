// Every region an agent has ever served, so that a region nobody answers for can be told apart:
// one whose agents went away (NO_AGENT, an outage) or one no agent has ever served (UNKNOWN_REGION,
// most likely a misspelt name). Kept in memory since start and, when the coordinator has a KV
// store (JetStream), in the store too, so that a restarted coordinator, or another replica, still
// knows. Bounded: the regions seen last are kept.
import { REGION_TOKEN } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";

/** Regions remembered at most: far more than any deployment has; a bound against a flood of names. */
export const MAX_SERVED_REGIONS = 1000;

/** Where the list is kept beyond this process (report-store.ts); absent: memory only. */
export interface ServedRegionsStore {
  getServedRegions(): Promise<string[] | undefined>;
  putServedRegions(regions: string[]): Promise<void>;
}

export interface ServedRegionsOptions {
  store?: ServedRegionsStore;
  /**
   * How often the list is written again even when nothing changed, so that a store whose entries
   * expire (the KV bucket's TTL) keeps it. Default one hour.
   */
  rewriteMs?: number;
  /** Default MAX_SERVED_REGIONS. */
  maxRegions?: number;
  logger: Logger;
  now?: () => number;
}

export class ServedRegions {
  /** Insertion order is the order last seen: the first is the one to forget. */
  private readonly regions = new Set<string>();
  private readonly maxRegions: number;
  private readonly rewriteMs: number;
  private readonly now: () => number;
  private loaded: Promise<void> = Promise.resolve();
  private writtenAt = Number.NEGATIVE_INFINITY;
  private writing: Promise<void> | undefined;
  private writeAgain = false;

  constructor(private readonly options: ServedRegionsOptions) {
    this.maxRegions = options.maxRegions ?? MAX_SERVED_REGIONS;
    this.rewriteMs = options.rewriteMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
  }

  /** Reads the stored list once (a failure is logged: memory only until the next write). */
  load(): Promise<void> {
    const store = this.options.store;
    if (!store) return this.loaded;
    this.loaded = store.getServedRegions().then(
      (stored) => {
        // Stored ones are older than any seen since start: they go first, to be forgotten first.
        const seen = [...this.regions];
        this.regions.clear();
        this.add(validRegions(stored ?? []));
        this.add(seen);
      },
      (error: unknown) => this.options.logger.warn({ err: error }, "could not read the regions served before"),
    );
    return this.loaded;
  }

  /** The regions served so far (the stored list read first, when there is one). */
  async current(): Promise<ReadonlySet<string>> {
    await this.loaded;
    return new Set(this.regions);
  }

  /** Regions an agent serves now: remembered, and written to the store when one is new (or it is time). */
  note(regions: Iterable<string>): void {
    const added = this.add(regions);
    if (this.options.store && (added || this.now() - this.writtenAt >= this.rewriteMs)) this.write();
  }

  /** Adds, or moves to the newest end; true when a region was new. Forgets the oldest beyond the bound. */
  private add(regions: Iterable<string>): boolean {
    let added = false;
    for (const region of regions) {
      added ||= !this.regions.has(region);
      this.regions.delete(region);
      this.regions.add(region);
    }
    for (const oldest of this.regions) {
      if (this.regions.size <= this.maxRegions) break;
      this.regions.delete(oldest);
    }
    return added;
  }

  /**
   * One write at a time; a change meanwhile writes once more after it. Each write merges what the
   * store holds (another replica's regions) with ours, so no replica erases another's.
   */
  private write(): void {
    if (this.writing) {
      this.writeAgain = true;
      return;
    }
    const store = this.options.store!;
    this.writtenAt = this.now();
    this.writing = (async () => {
      try {
        await this.loaded;
        const stored = validRegions((await store.getServedRegions()) ?? []);
        const ours = [...this.regions];
        const merged = [...stored.filter((r) => !this.regions.has(r)), ...ours].slice(-this.maxRegions);
        await store.putServedRegions(merged);
      } catch (error) {
        this.options.logger.warn({ err: error }, "could not store the regions served");
      } finally {
        this.writing = undefined;
        if (this.writeAgain) {
          this.writeAgain = false;
          this.write();
        }
      }
    })();
  }

  /** Resolves when no write is running (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }
}

/** What a store gave back, kept only where it is a region name (it goes into NATS subjects). */
function validRegions(values: readonly unknown[]): string[] {
  return values.filter((v): v is string => typeof v === "string" && REGION_TOKEN.test(v));
}
