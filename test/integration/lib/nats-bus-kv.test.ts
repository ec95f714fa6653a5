// The bus's JetStream key-value store against a private nats-server with JetStream: revision-
// checked writes won by one writer, filtered key listings, and a watch that gives the values held,
// says when it has, then follows every change — also across a restart of nats-server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus, KeyValueStore } from "../../../lib/bus.js";
import { connectNatsBus } from "../../../lib/nats-bus.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../helpers/nats-server.js";
import { need } from "../../helpers/requirements.js";
import { waitFor } from "../../helpers/wait.js";

const nats = await need(natsServerAvailable);
const text = (data: Uint8Array | undefined): string | undefined => (data ? Buffer.from(data).toString() : undefined);

describe.skipIf(nats.skip)("JetStream key-value store", () => {
  let server: NatsServer;
  let one: Bus;
  let two: Bus;
  const bucket = (bus: Bus, name: string) => bus.keyValue(name, { ttlMs: 60_000, maxBytes: 1 << 20 }) as Promise<KeyValueStore>;

  beforeAll(async () => {
    server = await startNatsServer();
    [one, two] = await Promise.all([connectNatsBus({ servers: server.url, name: "one" }), connectNatsBus({ servers: server.url, name: "two" })]);
  });

  afterAll(async () => {
    await Promise.all([one?.drain(), two?.drain()]);
    await server?.stop();
  });

  it("an update from a revision is won by one writer; a delete from a revision only if none came since", async () => {
    const [kv1, kv2] = await Promise.all([bucket(one, "kv_update"), bucket(two, "kv_update")]);
    await kv1.put("claim.a", Buffer.from("0"));
    const read = (await kv1.entry("claim.a"))!;
    expect(text(read.value)).toBe("0");
    const wins = await Promise.all([kv1.update("claim.a", Buffer.from("1"), read.revision), kv2.update("claim.a", Buffer.from("2"), read.revision)]);
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(await kv1.delete("claim.a", read.revision)).toBe(false);
    expect(text(await kv2.get("claim.a"))).toBe(wins[0] ? "1" : "2");
    const now = (await kv2.entry("claim.a"))!;
    expect(await kv1.delete("claim.a", now.revision)).toBe(true);
    expect(await kv1.entry("claim.a")).toBeUndefined();
    // Deleted, the key can be created again.
    expect(await kv2.create("claim.a", Buffer.from("3"))).toBe(true);
  });

  it("lists the keys a filter matches", async () => {
    const kv = await bucket(one, "kv_filter");
    await Promise.all(["owner.x.1", "owner.x.2", "owner.y.1", "monitor.1"].map((key) => kv.put(key, Buffer.from(key))));
    expect((await kv.keys("owner.x.>")).sort()).toEqual(["owner.x.1", "owner.x.2"]);
    expect(await kv.keys("slot.>")).toEqual([]);
    expect((await kv.keys()).sort()).toEqual(["monitor.1", "owner.x.1", "owner.x.2", "owner.y.1"]);
  });

  it(
    "a watch gives the values held, then ready, then each change of the keys it follows — also after nats-server restarts",
    async () => {
      const [kv1, kv2] = await Promise.all([bucket(one, "kv_watch"), bucket(two, "kv_watch")]);
      await kv1.put("monitor.a", Buffer.from("a"));
      await kv1.put("state.a", Buffer.from("not followed"));
      const seen: string[] = [];
      const ended: unknown[] = [];
      const watch = await kv2.watch("monitor.>", {
        entry: (key, value) => seen.push(`${key}=${text(value) ?? "deleted"}`),
        ready: () => seen.push("ready"),
        ended: (error) => ended.push(error),
      });
      try {
        await waitFor(() => seen.includes("ready"), 5_000, () => `ready: ${seen.join(" ")}`);
        await kv1.put("monitor.b", Buffer.from("b"));
        await kv1.delete("monitor.a");
        await kv1.put("state.b", Buffer.from("not followed"));
        await waitFor(() => seen.length >= 4, 5_000, () => `changes: ${seen.join(" ")}`);
        expect(seen).toEqual(["monitor.a=a", "ready", "monitor.b=b", "monitor.a=deleted"]);

        await server.kill();
        await server.start();
        await waitFor(() => one.isConnected() && two.isConnected(), 10_000, "both connected again");
        // JetStream comes back with its store a moment after the port opens.
        await waitFor(async () => kv1.put("monitor.c", Buffer.from("c")).then(() => true, () => false), 10_000, "a write after the restart");
        await waitFor(() => seen.includes("monitor.c=c") || ended.length > 0, 20_000, () => `after the restart: ${seen.join(" ")}`);
        expect({ seen: seen.slice(4), ended }).toEqual({ seen: ["monitor.c=c"], ended: [] });
      } finally {
        watch.stop();
      }
    },
    60_000,
  );
});
