// The regions agents have served: in memory, bounded, and written to a store beside the reports
// so that a restarted coordinator still knows them. The store here is a plain in-memory one.
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../../lib/logger.js";
import { ServedRegions, type ServedRegionsStore } from "../../../../services/coordinator/served-regions.js";

class ListStore implements ServedRegionsStore {
  list: string[] | undefined;
  writes = 0;
  failReads = false;
  async getServedRegions(): Promise<string[] | undefined> {
    if (this.failReads) throw new Error("KV away");
    return this.list && [...this.list];
  }
  async putServedRegions(regions: string[]): Promise<void> {
    this.writes += 1;
    this.list = [...regions];
  }
}

const logger = silentLogger();

describe("ServedRegions", () => {
  it("remembers what it is told, in memory only without a store", async () => {
    const served = new ServedRegions({ logger });
    await served.load();
    served.note(["eu-west", "us-east"]);
    served.note(["eu-west"]);
    expect([...(await served.current())].sort()).toEqual(["eu-west", "us-east"]);
  });

  it("keeps the regions seen last within its bound", async () => {
    const served = new ServedRegions({ logger, maxRegions: 2 });
    served.note(["a", "b"]);
    served.note(["a"]); // seen again: now the newest
    served.note(["c"]);
    expect([...(await served.current())]).toEqual(["a", "c"]);
  });

  it("a new instance on the same store knows what an earlier one was told (a restart)", async () => {
    const store = new ListStore();
    const before = new ServedRegions({ logger, store });
    await before.load();
    before.note(["eu-west", "ap-north"]);
    await before.idle();
    expect(store.list).toEqual(["eu-west", "ap-north"]);

    const after = new ServedRegions({ logger, store });
    void after.load();
    expect([...(await after.current())]).toEqual(["eu-west", "ap-north"]);
  });

  it("writes only when a region is new, or when it is time to keep the entry from expiring", async () => {
    let now = 0;
    const store = new ListStore();
    const served = new ServedRegions({ logger, store, rewriteMs: 1000, now: () => now });
    await served.load();
    served.note(["eu-west"]);
    await served.idle();
    served.note(["eu-west"]);
    await served.idle();
    expect(store.writes).toBe(1);
    now = 1000;
    served.note(["eu-west"]);
    await served.idle();
    expect(store.writes).toBe(2);
  });

  it("merges what another replica wrote instead of erasing it", async () => {
    const store = new ListStore();
    const served = new ServedRegions({ logger, store });
    await served.load();
    store.list = ["sa-east"]; // written by another replica since
    served.note(["eu-west"]);
    await served.idle();
    expect(store.list).toEqual(["sa-east", "eu-west"]);
  });

  it("keeps only region names from the store (they go into NATS subjects), and survives a store that cannot be read", async () => {
    const store = new ListStore();
    store.list = ["eu-west", "a.b", "*", "", "US-EAST", "ap-south"];
    const served = new ServedRegions({ logger, store });
    await served.load();
    expect([...(await served.current())]).toEqual(["eu-west", "ap-south"]);

    const broken = new ListStore();
    broken.failReads = true;
    const memoryOnly = new ServedRegions({ logger, store: broken });
    await memoryOnly.load();
    memoryOnly.note(["eu-west"]);
    await memoryOnly.idle();
    expect([...(await memoryOnly.current())]).toEqual(["eu-west"]);
  });
});
