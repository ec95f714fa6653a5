import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SUBJECTS, type Bus, type ReplyEvent } from "../../../lib/bus.js";
import { MemoryBus } from "../../../lib/memory-bus.js";
import { connectNatsBus } from "../../../lib/nats-bus.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../helpers/nats-server.js";
import { need } from "../../helpers/requirements.js";
import { delay } from "../../helpers/wait.js";

const nats = await need(natsServerAvailable);

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** The same contract, for both implementations: what the agent and the coordinator rely on. */
function busContract(name: string, make: () => Promise<Bus>) {
  describe(name, () => {
    it("a request reaches one member of the queue group, and every reply comes back", async () => {
      const bus = await make();
      const served: string[] = [];
      for (const member of ["a", "b"]) {
        bus.subscribe(
          SUBJECTS.task("eu-west"),
          (msg) => {
            served.push(member);
            msg.respond(text(`progress from ${member}`));
            msg.respond(text(`result from ${member}`));
          },
          { queue: SUBJECTS.queue("eu-west") },
        );
      }
      await delay(50);
      const replies: string[] = [];
      const sub = bus.request(SUBJECTS.task("eu-west"), text("task"), (e) => {
        if (e.kind === "message") replies.push(str(e.data));
      });
      await delay(100);
      sub.unsubscribe();
      expect(served).toHaveLength(1);
      expect(replies).toEqual([`progress from ${served[0]}`, `result from ${served[0]}`]);
      await bus.drain();
    });

    it("says 'no responders' at once when nobody serves the subject", async () => {
      const bus = await make();
      const began = performance.now();
      const event = await new Promise<ReplyEvent>((resolve) => bus.request(SUBJECTS.task("nobody-here"), text("x"), resolve));
      expect(event.kind).toBe("no_responders");
      expect(performance.now() - began).toBeLessThan(500);
      await bus.drain();
    });

    it("discovers served services with their metadata and live stats", async () => {
      const bus = await make();
      let inFlight = 0;
      const served = await bus.serve({
        name: SUBJECTS.agentService,
        version: "1.2.3",
        description: "test",
        metadata: { region: "ap-south", agent_id: "agent-1" },
        endpoint: { name: "probe", subject: SUBJECTS.task("ap-south"), queue: SUBJECTS.queue("ap-south"), handler: (m) => m.respond(text("ok")) },
        stats: () => ({ in_flight: inFlight }),
      });
      inFlight = 3;
      const found = await bus.discover(SUBJECTS.agentService, 300);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ id: served.id, version: "1.2.3", metadata: { region: "ap-south", agent_id: "agent-1" }, data: { in_flight: 3 } });
      const replies: string[] = [];
      bus.request(SUBJECTS.task("ap-south"), text("t"), (e) => e.kind === "message" && replies.push(str(e.data)));
      await delay(100);
      expect(replies).toEqual(["ok"]);
      await served.stop();
      expect(await bus.discover(SUBJECTS.agentService, 200)).toEqual([]);
      await bus.drain();
    });
  });
}

busContract("memory bus", async () => new MemoryBus());

describe.skipIf(nats.skip)("NATS bus", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  busContract("contract", () => connectNatsBus({ servers: server.url, name: "bus-test" }));

  it("keeps values in a JetStream key-value bucket", async () => {
    const bus = await connectNatsBus({ servers: server.url, name: "kv-test" });
    const kv = await bus.keyValue("test_reports", { ttlMs: 60_000, maxBytes: 1 << 20 });
    expect(kv).toBeDefined();
    await kv!.put("probe-1", text("report"));
    expect(str((await kv!.get("probe-1"))!)).toBe("report");
    expect(await kv!.get("nope")).toBeUndefined();
    await bus.drain();
  });

  it("a KV write is refused with JetStream's reason, and a bad key before anything is sent", async () => {
    const bus = await connectNatsBus({ servers: server.url, name: "kv-refusals" });
    const kv = await bus.keyValue("test_small", { ttlMs: 60_000, maxBytes: 1024 });
    // Over the bucket's bound: JetStream answers with an error, not a PubAck.
    await expect(kv!.put("big", new Uint8Array(4096))).rejects.toThrow(/JetStream refused the KV write of big: .+ \(code \d+\)/);
    await expect(kv!.put(".bad", text("x"))).rejects.toThrow("invalid key: .bad");
    // Several writes in one turn (one socket write) each get their own answer.
    await Promise.all(["a", "b", "c"].map((k) => kv!.put(k, text(k))));
    expect(await Promise.all(["a", "b", "c"].map(async (k) => str((await kv!.get(k))!)))).toEqual(["a", "b", "c"]);
    await bus.drain();
  });

  it("reports a lost connection and the reconnection", async () => {
    const bus = await connectNatsBus({ servers: server.url, name: "status-test" });
    const changes: boolean[] = [];
    bus.onConnectionChange((c) => changes.push(c));
    await server.kill();
    for (let i = 0; i < 40 && changes.length < 1; i++) await delay(50);
    expect(bus.isConnected()).toBe(false);
    await server.start();
    for (let i = 0; i < 80 && changes.length < 2; i++) await delay(50);
    expect(changes).toEqual([false, true]);
    expect(bus.isConnected()).toBe(true);
    await bus.drain();
  });
});

describe("JetStream absent", () => {
  it.skipIf(nats.skip)("keyValue() is undefined without JetStream", async () => {
    const server = await startNatsServer({ jetstream: false });
    try {
      const bus = await connectNatsBus({ servers: server.url, name: "nojs" });
      expect(await bus.keyValue("x", { ttlMs: 1000, maxBytes: 1024 })).toBeUndefined();
      await bus.drain();
    } finally {
      await server.stop();
    }
  });
});
