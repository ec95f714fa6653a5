// SendBatch: what one turn of the event loop queues runs together at its end, in order, bounded.
import { describe, expect, it } from "vitest";
import { MAX_BATCH, SendBatch } from "../../../lib/send-batch.js";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("SendBatch", () => {
  it("runs the sends of one turn at its end, in the order queued", async () => {
    const ran: number[] = [];
    const batch = new SendBatch(() => undefined);
    batch.add(() => ran.push(1));
    await Promise.resolve(); // a microtask checkpoint is not the end of the turn
    batch.add(() => ran.push(2));
    expect(ran).toEqual([]);
    expect(batch.pending).toBe(2);
    await turn();
    expect(ran).toEqual([1, 2]);
    expect(batch.pending).toBe(0);
  });

  it("runs at once at MAX_BATCH sends: the queue never holds more", () => {
    let ran = 0;
    const batch = new SendBatch(() => undefined);
    for (let i = 0; i < MAX_BATCH; i++) batch.add(() => (ran += 1));
    expect(ran).toBe(MAX_BATCH);
    expect(batch.pending).toBe(0);
  });

  it("flush runs what is queued now (before a drain), and nothing twice", async () => {
    const ran: string[] = [];
    const batch = new SendBatch(() => undefined);
    batch.add(() => ran.push("a"));
    batch.flush();
    expect(ran).toEqual(["a"]);
    await turn();
    expect(ran).toEqual(["a"]);
  });

  it("a send that throws goes to onError; the others still run", async () => {
    const errors: unknown[] = [];
    const ran: string[] = [];
    const batch = new SendBatch((error) => errors.push(error));
    batch.add(() => ran.push("before"));
    batch.add(() => {
      throw new Error("CONNECTION_CLOSED");
    });
    batch.add(() => ran.push("after"));
    await turn();
    expect(ran).toEqual(["before", "after"]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["CONNECTION_CLOSED"]);
  });
});
