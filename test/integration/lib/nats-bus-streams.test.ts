// The bus's JetStream work queue and record log against a private nats-server with JetStream: an
// item goes to one taker, comes back when given back or when its taker stops working on it, and
// leaves when done; a full queue says so; a log stores an id once and is followed in order from
// any sequence, also by a reader slower than the writers, and purged by subject; a follower whose
// consumer is lost goes on, one whose stream is gone ends with the error.
import { connect, type JetStreamManager } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueFullError, type Bus, type WorkItem } from "../../../lib/bus.js";
import { connectNatsBus } from "../../../lib/nats-bus.js";
import { MemoryBus } from "../../../lib/memory-bus.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../helpers/nats-server.js";
import { need } from "../../helpers/requirements.js";
import { waitFor, withTimeout } from "../../helpers/wait.js";

const nats = await need(natsServerAvailable);
const text = (data: Uint8Array): string => Buffer.from(data).toString();

async function collect(items: AsyncIterable<WorkItem>): Promise<WorkItem[]> {
  const out: WorkItem[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe.skipIf(nats.skip)("JetStream work queue and record log", () => {
  let server: NatsServer;
  let one: Bus;
  let two: Bus;

  beforeAll(async () => {
    server = await startNatsServer();
    [one, two] = await Promise.all([connectNatsBus({ servers: server.url, name: "one" }), connectNatsBus({ servers: server.url, name: "two" })]);
  });

  afterAll(async () => {
    await Promise.all([one?.drain(), two?.drain()]);
    await server?.stop();
  });

  const spec = (name: string, maxItems = 100, ackWaitMs = 10_000) => ({ name, subjects: `test.${name.toLowerCase()}.*`, consumer: "workers", maxItems, maxAgeMs: 60_000, ackWaitMs });

  it("an item goes to one taker; given back it comes again; done, it is gone; a repeated add is one item", async () => {
    const [q1, q2] = await Promise.all([one.workQueue(spec("WQ_A")), two.workQueue(spec("WQ_A"))]);
    await q1!.add("test.wq_a.x", Buffer.from("a"), "a");
    await q1!.add("test.wq_a.x", Buffer.from("a"), "a");
    await q1!.add("test.wq_a.x", Buffer.from("b"), "b");
    const first = await collect(q1!.take(1, 1_000));
    const second = await collect(q2!.take(1, 1_000));
    expect([...first, ...second].map((i) => text(i.data)).sort()).toEqual(["a", "b"]);
    first[0]!.retry(0);
    const again = await collect(q2!.take(5, 1_000));
    expect(again.map((i) => [text(i.data), i.deliveries])).toEqual([[text(first[0]!.data), 2]]);
    await again[0]!.done();
    await second[0]!.done();
    expect(await collect(q1!.take(5, 1_000))).toEqual([]);
    expect(await q1!.room()).toBe(100);
  });

  it("an item whose taker stops working on it goes to another after the ack wait; working() holds it", async () => {
    const [q1, q2] = await Promise.all([one.workQueue(spec("WQ_B", 100, 1_500)), two.workQueue(spec("WQ_B", 100, 1_500))]);
    await q1!.add("test.wq_b.x", Buffer.from("held"), "held");
    await q1!.add("test.wq_b.x", Buffer.from("lost"), "lost");
    const taken = await collect(q1!.take(2, 1_000));
    const held = taken.find((i) => text(i.data) === "held")!;
    const timer = setInterval(() => held.working(), 300);
    const redelivered = await collect(q2!.take(1, 3_000));
    clearInterval(timer);
    expect(redelivered.map((i) => text(i.data))).toEqual(["lost"]);
    await Promise.all([held.done(), redelivered[0]!.done()]);
  });

  it("a full queue refuses with QueueFullError", async () => {
    const q = await one.workQueue(spec("WQ_C", 2));
    await q!.add("test.wq_c.x", Buffer.from("1"), "1");
    await q!.add("test.wq_c.x", Buffer.from("2"), "2");
    expect(await q!.room()).toBe(0);
    await expect(q!.add("test.wq_c.x", Buffer.from("3"), "3")).rejects.toBeInstanceOf(QueueFullError);
  });

  it("a log stores an id once, counts per subject, and is followed in order from any sequence", async () => {
    const log = (await one.recordLog({ name: "LOG_A", subjects: "test.log_a.*", maxAgeMs: 60_000, maxBytes: 1e8, duplicateWindowMs: 60_000 }))!;
    const reader = (await two.recordLog({ name: "LOG_A", subjects: "test.log_a.*", maxAgeMs: 60_000, maxBytes: 1e8, duplicateWindowMs: 60_000 }))!;
    const first = await log.append("test.log_a.s", Buffer.from("0"), "0");
    expect(await log.append("test.log_a.s", Buffer.from("0"), "0")).toEqual({ sequence: first.sequence, duplicate: true });
    await log.append("test.log_a.other", Buffer.from("x"), "x");
    expect(await reader.count("test.log_a.s")).toBe(1);
    expect(await reader.lastSequence("test.log_a.nothing")).toBe(0);

    // 600 more records from concurrent writers, read by a reader that stops now and then.
    const writing = (async () => {
      for (let i = 1; i < 601; i += 25) {
        await Promise.all(Array.from({ length: 25 }, (_, k) => log.append("test.log_a.s", Buffer.from(String(i + k)), String(i + k))));
      }
    })();
    const controller = new AbortController();
    const seen: { sequence: number; value: number }[] = [];
    for await (const record of reader.follow("test.log_a.s", 0, controller.signal)) {
      seen.push({ sequence: record.sequence, value: Number(text(record.data)) });
      if (seen.length % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      if (seen.length === 601) break;
    }
    await writing;
    expect(new Set(seen.map((r) => r.value)).size).toBe(601);
    expect(seen.map((r) => r.sequence)).toEqual([...seen.map((r) => r.sequence)].sort((a, b) => a - b));
    const tail: number[] = [];
    for await (const record of reader.follow("test.log_a.s", seen[595]!.sequence, controller.signal)) {
      tail.push(record.sequence);
      if (tail.length === 5) break;
    }
    expect(tail).toEqual(seen.slice(596).map((r) => r.sequence));

    // A purge removes the subject's records only.
    await reader.purge("test.log_a.s");
    expect([await reader.count("test.log_a.s"), await reader.lastSequence("test.log_a.s"), await reader.count("test.log_a.other")]).toEqual([0, 0, 1]);
  }, 30_000);

  /**
   * Log `name` (subjects test.<name>.*), written through one connection and followed from its start
   * through the other until `count` records are read; returned once the first is. `ended` is the
   * follow's end, its error caught at once (it may come while JetStream is still being changed).
   */
  async function followedLog(name: string, count: number) {
    const logSpec = { name, subjects: `test.${name.toLowerCase()}.*`, maxAgeMs: 60_000, maxBytes: 1e8, duplicateWindowMs: 60_000 };
    const [log, reader] = await Promise.all([one.recordLog(logSpec), two.recordLog(logSpec)]);
    const subject = `test.${name.toLowerCase()}.s`;
    await log!.append(subject, Buffer.from("0"), "0");
    const controller = new AbortController();
    const seen: string[] = [];
    const ended = (async () => {
      for await (const record of reader!.follow(subject, 0, controller.signal)) {
        seen.push(text(record.data));
        if (seen.length === count) return;
      }
    })().then(() => undefined, (error: unknown) => error);
    await waitFor(() => seen.length === 1, 5_000, "the first record");
    return { append: (data: string) => log!.append(subject, Buffer.from(data), data), seen, ended, stop: () => controller.abort() };
  }

  /** A change to JetStream made through a connection of its own, as an operator (or a restart) would. */
  async function changeJetStream(change: (jsm: JetStreamManager) => Promise<unknown>): Promise<void> {
    const nc = await connect({ servers: server.url });
    try {
      await change(await nc.jetstreamManager());
    } finally {
      await nc.close();
    }
  }

  it("a follower whose consumer is lost (deleted, or forgotten by a restarted server) goes on after the last record read", async () => {
    const followed = await followedLog("LOG_B", 3);
    try {
      await changeJetStream(async (jsm) => {
        for (const consumer of await jsm.consumers.list("LOG_B").next()) await jsm.consumers.delete("LOG_B", consumer.name);
      });
      await followed.append("1");
      await followed.append("2");
      expect(await withTimeout(followed.ended, 15_000, "the records after the loss")).toBeUndefined();
    } finally {
      followed.stop();
    }
    expect(followed.seen).toEqual(["0", "1", "2"]);
  }, 30_000);

  it("a follower whose stream is gone ends with the error, never following nothing", async () => {
    const followed = await followedLog("LOG_C", Infinity);
    try {
      await changeJetStream((jsm) => jsm.streams.delete("LOG_C"));
      expect(String(await withTimeout(followed.ended, 15_000, "the follower's end"))).toMatch(/stream not found/i);
    } finally {
      followed.stop();
    }
    expect(followed.seen).toEqual(["0"]);
  }, 30_000);

  it("a key-value create is won by one writer; keys and delete", async () => {
    const [kv1, kv2] = await Promise.all([one.keyValue("claims_test", { ttlMs: 60_000, maxBytes: 1 << 20 }), two.keyValue("claims_test", { ttlMs: 60_000, maxBytes: 1 << 20 })]);
    const wins = await Promise.all([kv1!.create("run.a.1", Buffer.from("one")), kv2!.create("run.a.1", Buffer.from("two")), kv1!.create("run.a.1", Buffer.from("three"))]);
    expect(wins.filter(Boolean)).toHaveLength(1);
    await kv2!.put("run.a.2", Buffer.from("x"));
    expect((await kv1!.keys()).sort()).toEqual(["run.a.1", "run.a.2"]);
    await kv1!.delete("run.a.2");
    expect(await kv2!.keys()).toEqual(["run.a.1"]);
  });

  it("the memory bus has neither", async () => {
    const bus = new MemoryBus();
    expect(await bus.workQueue()).toBeUndefined();
    expect(await bus.recordLog()).toBeUndefined();
  });
});
