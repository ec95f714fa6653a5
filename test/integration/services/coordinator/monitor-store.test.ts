// The monitor store against a private nats-server with JetStream, through two connections (two
// coordinators): a run is claimed by one of them and never again, nor an earlier one; a caller's
// slots are held by one creation each, freed by a deletion, and one left behind by a creation cut
// short is taken back once old enough.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import type { Bus } from "../../../../lib/bus.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import type { MonitorRecord } from "../../../../services/coordinator/monitor/monitor-records.js";
import { MonitorStore, SLOT_GRACE_MS } from "../../../../services/coordinator/monitor/monitor-store.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { delay } from "../../../helpers/wait.js";
import { need } from "../../../helpers/requirements.js";

const nats = await need(natsServerAvailable);

describe.skipIf(nats.skip)("the monitor store on JetStream", () => {
  let server: NatsServer;
  let buses: Bus[];
  let one: MonitorStore;
  let two: MonitorStore;

  const record = (caller: string, slot?: number): MonitorRecord => ({
    monitorId: randomUUID(),
    caller,
    intervalMs: 60_000,
    createdAt: Date.now(),
    probe: ProbeRequest.fromPartial({ host: "198.18.0.1" }),
    webhookUrl: "",
    webhookSecret: "",
    ...(slot === undefined ? {} : { slot }),
  });

  beforeAll(async () => {
    server = await startNatsServer();
    buses = await Promise.all([0, 1].map((i) => connectNatsBus({ servers: server.url, name: `store-${i}` })));
    [one, two] = (await Promise.all(buses.map((bus) => MonitorStore.open(bus)))) as [MonitorStore, MonitorStore];
  });

  afterAll(async () => {
    await Promise.all((buses ?? []).map((bus) => bus.drain()));
    await server?.stop();
  });

  it("a run is claimed once over both coordinators; an earlier run is taken once a later one is", async () => {
    const monitorId = randomUUID();
    const claimed = (claim: { claimed: boolean }): boolean => claim.claimed;
    for (let run = 1; run <= 5; run++) {
      const wins = await Promise.all([one.claim(monitorId, run, "a", 60_000), two.claim(monitorId, run, "b", 60_000), one.claim(monitorId, run, "a2", 60_000)]);
      expect(wins.filter(claimed)).toHaveLength(1);
    }
    expect(claimed(await two.claim(monitorId, 3, "b", 60_000))).toBe(false);
    expect(claimed(await two.claim(monitorId, 7, "b", 60_000))).toBe(true);
    expect(claimed(await one.claim(monitorId, 6, "a", 60_000))).toBe(false);
  });

  it("a claim whose lease ran out is taken over, once; its holder's renewal and done mark then fail; a run marked done is never taken over", async () => {
    const monitorId = randomUUID();
    expect(await one.claim(monitorId, 1, "a", 200)).toEqual({ claimed: true });
    // While the lease holds: not yet, with the time to look again.
    const held = await two.claim(monitorId, 1, "b", 200);
    expect(held.claimed).toBe(false);
    expect((held as { recheckAt?: number }).recheckAt).toBeGreaterThan(Date.now() - 200);
    // Renewed by its holder, it holds on.
    expect(await one.holdClaim(monitorId, 1, "a", { until: Date.now() + 300 })).toBe(true);
    expect((await two.claim(monitorId, 1, "b", 200)).claimed).toBe(false);
    await delay(350);
    // Run out: one of two coordinators takes it over.
    const takers = await Promise.all([two.claim(monitorId, 1, "b", 5_000), one.claim(monitorId, 1, "c", 5_000)]);
    expect(takers.filter((t) => t.claimed)).toHaveLength(1);
    const taker = takers[0]!.claimed ? "b" : "c";
    // The first holder finds it gone: it neither renews nor marks it done.
    expect(await one.holdClaim(monitorId, 1, "a", { until: Date.now() + 300 })).toBe(false);
    expect(await one.holdClaim(monitorId, 1, "a", { done: true })).toBe(false);
    expect(await two.holdClaim(monitorId, 1, taker, { done: true })).toBe(true);
    // Done: never taken over, not even once the lease would have run out; the next run is claimable.
    expect(await two.claim(monitorId, 1, "d", 200)).toEqual({ claimed: false });
    expect(await two.holdClaim(monitorId, 1, taker, { until: Date.now() + 300 })).toBe(false);
    expect(await two.claim(monitorId, 2, "d", 200)).toEqual({ claimed: true });
  });

  it("a done mark that races its holder's own renewal still marks the run done; the renewal then finds it done", async () => {
    const monitorId = randomUUID();
    for (let run = 1; run <= 10; run++) {
      expect(await one.claim(monitorId, run, "a", 5_000)).toEqual({ claimed: true });
      // Both read the same revision; the renewal's write goes first.
      const [renewed, done] = await Promise.all([one.holdClaim(monitorId, run, "a", { until: Date.now() + 5_000 }), one.holdClaim(monitorId, run, "a", { done: true })]);
      expect(done).toBe(true);
      expect(renewed).toBe(true);
      expect(await one.holdClaim(monitorId, run, "a", { until: Date.now() + 5_000 })).toBe(false);
      expect(await two.claim(monitorId, run, "b", 5_000)).toEqual({ claimed: false });
    }
  });

  it("each slot goes to one creation; a deletion frees its slot; with every slot held, none", async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? one : two).claimSlot("caller-a", randomUUID(), 4)));
    const slots = results.filter((s): s is number => s !== undefined);
    expect(slots.sort()).toEqual([0, 1, 2, 3]);
    // Held by creations under way (no record yet, but younger than SLOT_GRACE_MS): none free.
    expect(await one.claimSlot("caller-a", randomUUID(), 4)).toBeUndefined();
    // Another caller's slots are its own.
    expect(await two.claimSlot("caller-b", randomUUID(), 4)).toBeDefined();
  });

  it("a slot is freed by deleting its monitor, and only by its own monitor", async () => {
    const monitor = record("caller-c");
    const slot = (await one.claimSlot("caller-c", monitor.monitorId, 1))!;
    await one.put({ ...monitor, slot });
    expect(await two.claimSlot("caller-c", randomUUID(), 1)).toBeUndefined();
    await two.releaseSlot("caller-c", slot, randomUUID()); // not the holder: nothing freed
    expect(await two.claimSlot("caller-c", randomUUID(), 1)).toBeUndefined();
    await two.delete({ ...monitor, slot });
    expect(await one.claimSlot("caller-c", randomUUID(), 1)).toBe(slot);
  });

  it("a slot left by a creation cut short is taken back once SLOT_GRACE_MS old, not before; a slot whose monitor exists never", async () => {
    const t0 = Date.now();
    // A creation that claimed its slot and never wrote its record.
    expect(await one.claimSlot("caller-d", randomUUID(), 1, t0)).toBe(0);
    expect(await two.claimSlot("caller-d", randomUUID(), 1, t0 + 1_000)).toBeUndefined();
    const taker = randomUUID();
    expect(await two.claimSlot("caller-d", taker, 1, t0 + SLOT_GRACE_MS)).toBe(0);
    // The taker's monitor is written: its slot stays its own, however old.
    await two.put({ ...record("caller-d", 0), monitorId: taker });
    expect(await one.claimSlot("caller-d", randomUUID(), 1, t0 + 10 * SLOT_GRACE_MS)).toBeUndefined();
  });
});
