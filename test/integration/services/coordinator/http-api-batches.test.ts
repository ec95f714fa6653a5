// Batches over the HTTP/JSON API: two coordinators started in this process sharing a nats-server
// with JetStream started here (one open on loopback, one with bearer tokens), an agent over the
// same server, a closed port (a probe ends at once) and a server that never speaks (a probe held).
// POST /v1/batches, GET /v1/batches/{batch_id}, GET …:watch as Server-Sent Events in order and
// resumed (after_sequence, Last-Event-ID), POST …:cancel; validation naming the field; callers.
// Every answer is read with the generated fromJSON.
import { request as httpRequest } from "node:http";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../../../agents/probe/agent.js";
import { BadRequest, ErrorInfo } from "../../../../gen/google/rpc/error_details.js";
import { Status } from "../../../../gen/google/rpc/status.js";
import { Batch, BatchEvent, BatchItemStatus, BatchState } from "../../../../gen/smtpprobe/v1/batch.js";
import type { Bus } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { batchEventJson, batchJson } from "../../../../lib/proto-json.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { freePort } from "../../../helpers/free-port.js";
import { fetchHttp, postJson, type HttpAnswer } from "../../../helpers/http-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { withTimeout } from "../../../helpers/wait.js";
import { startSilentServer, type SilentServer } from "../../../helpers/silent-server.js";
import { startRegionAgent } from "./region-agent.js";

const nats = await need(natsServerAvailable);
const REGION = "eu-west";
const TOKEN_A = "http-batch-token-of-alice-0123";
const TOKEN_B = "http-batch-token-of-bob-456789";

/** A Status answer, decoded by the generated code, with its details by type. */
function statusOf(answer: HttpAnswer): { status: Status; details: Record<string, unknown>[] } {
  expect(answer.headers["content-type"]).toBe("application/json; charset=utf-8");
  const body = answer.json() as { details?: Record<string, unknown>[] };
  return { status: Status.fromJSON(body), details: body.details ?? [] };
}

function violations(answer: HttpAnswer): string[] {
  const found = statusOf(answer).details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.BadRequest");
  return found ? BadRequest.fromJSON(found).fieldViolations.map((v) => `${v.field}: ${v.description}`) : [];
}

/** The JSON mapping exactly: the generated code reads it, and the mapping of what it read gives it back. */
function decodeBatch(answer: HttpAnswer): Batch {
  expect(answer.status, answer.text).toBe(200);
  const json = answer.json();
  const batch = Batch.fromJSON(json);
  expect(batchJson(batch)).toEqual(json);
  return batch;
}

interface WatchedEvent {
  id: string | undefined;
  name: string;
  event: BatchEvent;
}

/** A watch's Server-Sent Events with their ids, each decoded and checked against the mapping. */
function watchEvents(answer: HttpAnswer): WatchedEvent[] {
  expect(answer.status, answer.text).toBe(200);
  expect(answer.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
  return answer.text
    .split("\n\n")
    .filter((block) => block.trim() !== "" && !block.startsWith(":"))
    .map((block) => {
      const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
      const json = JSON.parse(fields.data!) as unknown;
      const event = BatchEvent.fromJSON(json);
      expect(batchEventJson(event)).toEqual(json);
      expect(Object.keys(json as object)).toEqual([fields.event]);
      return { id: fields.id, name: fields.event!, event };
    });
}

describe.skipIf(nats.skip)("batches over HTTP, through coordinators sharing JetStream", () => {
  let server: NatsServer;
  let silent: SilentServer;
  let closedPort: number;
  let open: RunningCoordinator;
  let tokens: RunningCoordinator;
  let agentBus: Bus;
  let agent: RunningAgent;

  const base = (c: RunningCoordinator): string => `${c.http!.scheme}://127.0.0.1:${c.http!.port}`;
  const targets = (n: number, port: number) => Array.from({ length: n }, () => ({ host: "127.0.0.1", ports: [port] }));

  beforeAll(async () => {
    [server, silent, closedPort] = await Promise.all([startNatsServer(), startSilentServer(), freePort()]);
    const config = (overrides: Parameters<typeof testCoordinatorConfig>[1]) =>
      testCoordinatorConfig([closedPort, silent.port], { nats: { servers: server.url }, http: { host: "127.0.0.1", port: 0 }, batch: { maxTargets: 50, maxQueuedItems: 1_000, concurrency: 2 }, ...overrides });
    [open, tokens] = await Promise.all([
      startCoordinator(config({}), silentLogger()),
      startCoordinator(config({ auth: { tokens: new Map([[TOKEN_A, "alice"], [TOKEN_B, "bob"]]) } }), silentLogger()),
    ]);
    ({ bus: agentBus, agent } = await startRegionAgent(server.url, "http-batch-agent", REGION, base(open)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all([open, tokens].map((c) => c?.stop(1_000)));
    await agent?.stop(0);
    await agentBus?.drain();
    await Promise.all([server?.stop(), silent?.stop()]);
  });

  it("POST /v1/batches, then GET …:watch: progress first, every item once in sequence order with its id, progress DONE last; GET the batch DONE", async () => {
    const created = decodeBatch(await postJson(`${base(open)}/v1/batches`, { targets: targets(6, closedPort), options: { regions: [REGION] } }));
    expect(created).toMatchObject({ state: BatchState.BATCH_STATE_RUNNING, total: 6 });
    expect(created.batchId).toMatch(/^[0-9a-f-]{36}$/);

    const events = watchEvents(await fetchHttp(`${base(open)}/v1/batches/${created.batchId}:watch`, { headers: { accept: "text/event-stream" } }));
    expect(events[0]?.name).toBe("progress");
    expect(events.at(-1)?.event.progress).toMatchObject({ batchId: created.batchId, state: BatchState.BATCH_STATE_DONE, total: 6, reported: 6 });
    const items = events.filter((e) => e.name === "item");
    expect(items.map((e) => e.event.item!.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(items.every((e) => e.event.item!.status === BatchItemStatus.BATCH_ITEM_STATUS_PROBED && e.event.item!.report?.complete)).toBe(true);
    const sequences = items.map((e) => e.event.item!.sequence);
    expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
    // An item's event id is its sequence; progress events have none.
    expect(items.map((e) => e.id)).toEqual(sequences.map(String));
    expect(events.filter((e) => e.name === "progress").every((e) => e.id === undefined)).toBe(true);

    // Resumed after the second report: with ?afterSequence=, and with the Last-Event-ID an EventSource sends.
    const rest = items.slice(2).map((e) => e.event.item!.index);
    const resumed = watchEvents(await fetchHttp(`${base(open)}/v1/batches/${created.batchId}:watch?afterSequence=${sequences[1]}`));
    expect(resumed.filter((e) => e.name === "item").map((e) => e.event.item!.index)).toEqual(rest);
    const reconnected = watchEvents(await fetchHttp(`${base(open)}/v1/batches/${created.batchId}:watch`, { headers: { "last-event-id": String(sequences[1]) } }));
    expect(reconnected.filter((e) => e.name === "item").map((e) => e.event.item!.index)).toEqual(rest);

    const got = decodeBatch(await fetchHttp(`${base(open)}/v1/batches/${created.batchId}`));
    expect(got).toMatchObject({ batchId: created.batchId, state: BatchState.BATCH_STATE_DONE, total: 6, reported: 6, createdAt: created.createdAt });
    expect(got.options?.regions).toEqual([REGION]);
  });

  it("POST …:cancel: CANCELLED; the watch reports every item once, those not probed yet as CANCELLED", async () => {
    // A server that never speaks holds each probe for its banner timeout: most items still wait.
    const options = { regions: [REGION], options: { timeouts: { bannerMs: 1_000, deadlineMs: 2_000 } } };
    const created = decodeBatch(await postJson(`${base(open)}/v1/batches`, { targets: targets(8, silent.port), options }));
    const cancelled = decodeBatch(await postJson(`${base(open)}/v1/batches/${created.batchId}:cancel`, {}));
    expect(cancelled).toMatchObject({ batchId: created.batchId, state: BatchState.BATCH_STATE_CANCELLED });
    const events = watchEvents(await fetchHttp(`${base(open)}/v1/batches/${created.batchId}:watch`, { timeoutMs: 30_000 }));
    const items = events.filter((e) => e.name === "item").map((e) => e.event.item!);
    expect(items.map((item) => item.index).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(items.filter((item) => item.status === BatchItemStatus.BATCH_ITEM_STATUS_CANCELLED).length).toBeGreaterThan(0);
    expect(events.at(-1)?.event.progress).toMatchObject({ state: BatchState.BATCH_STATE_CANCELLED, reported: 8 });
    // Cancelling again answers the same.
    expect(decodeBatch(await postJson(`${base(open)}/v1/batches/${created.batchId}:cancel`, { batchId: created.batchId })).state).toBe(BatchState.BATCH_STATE_CANCELLED);
  }, 30_000);

  it("a watcher that goes away ends its watch (the call is cancelled), while the batch runs on", async () => {
    const options = { regions: [REGION], options: { timeouts: { bannerMs: 3_000, deadlineMs: 4_000 } } };
    const created = decodeBatch(await postJson(`${base(open)}/v1/batches`, { targets: targets(8, silent.port), options }));
    const firstEvent = new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${base(open)}/v1/batches/${created.batchId}:watch`, (res) => {
        res.once("data", (chunk: Buffer) => {
          req.destroy();
          resolve(chunk.toString("utf8"));
        });
      });
      req.on("error", (error) => (req.destroyed ? undefined : reject(error)));
      req.end();
    });
    expect(await firstEvent).toMatch(/^event: progress\n/);
    // No call left on the coordinator, long before the batch could have ended.
    await withTimeout(open.operations.calls.idle(), 2_000, "the watch still runs after its client went away");
    expect(decodeBatch(await fetchHttp(`${base(open)}/v1/batches/${created.batchId}`)).state).toBe(BatchState.BATCH_STATE_RUNNING);
    decodeBatch(await postJson(`${base(open)}/v1/batches/${created.batchId}:cancel`, {}));
  });

  it.each<[string, () => Promise<HttpAnswer>, string[]]>([
    ["a field that does not exist", () => postJson(`${base(open)}/v1/batches`, { target: [] }), ["target: is not a field of smtpprobe.v1.CreateBatchRequest (its fields: targets, options)"]],
    ["a port of the wrong type", () => postJson(`${base(open)}/v1/batches`, { targets: [{ host: "127.0.0.1", ports: ["x"] }] }), ["targets[0].ports[0]: must be an integer"]],
    ["a bad host (the service's own validation)", () => postJson(`${base(open)}/v1/batches`, { targets: [{ host: "127.0.0.1", ports: [closedPort] }, { host: "bad host!" }] }), ["targets[1].host:"]],
    ["an empty batch", () => postJson(`${base(open)}/v1/batches`, {}), ["targets: is empty"]],
    ["a malformed batch id", () => fetchHttp(`${base(open)}/v1/batches/nope`), ["batch_id: must be a batch id"]],
    ["a query parameter the route does not take", () => fetchHttp(`${base(open)}/v1/batches/00000000-0000-4000-8000-000000000000:watch?after=3`), ["after: is not a query parameter"]],
    ["a resume sequence that is not a number", () => fetchHttp(`${base(open)}/v1/batches/00000000-0000-4000-8000-000000000000:watch?after_sequence=x`), ["after_sequence: must be an integer"]],
    [
      "a batch id in the body that is not the path's",
      () => postJson(`${base(open)}/v1/batches/00000000-0000-4000-8000-000000000000:cancel`, { batchId: "00000000-0000-4000-8000-000000000001" }),
      ["batch_id: is "],
    ],
  ])("%s: INVALID_ARGUMENT 400 naming the field", async (_name, send, expected) => {
    const answer = await send();
    expect(answer.status, answer.text).toBe(400);
    expect(statusOf(answer).status.code).toBe(status.INVALID_ARGUMENT);
    const found = violations(answer);
    expect(found).toHaveLength(expected.length);
    expected.forEach((prefix, i) => expect(found[i]).toContain(prefix));
  });

  it("a target the policy denies: PERMISSION_DENIED 403 naming the target", async () => {
    const answer = await postJson(`${base(open)}/v1/batches`, { targets: [{ host: "127.0.0.1", ports: [closedPort] }, { host: "127.0.0.1", ports: [26] }] });
    expect(answer.status).toBe(403);
    const info = statusOf(answer).details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo");
    expect(ErrorInfo.fromJSON(info).metadata.field).toContain("targets[1]");
  });

  it("unknown batch: NOT_FOUND 404; wrong methods 405 with Allow; a cross-site POST 403", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    for (const answer of [await fetchHttp(`${base(open)}/v1/batches/${id}`), await fetchHttp(`${base(open)}/v1/batches/${id}:watch`), await postJson(`${base(open)}/v1/batches/${id}:cancel`, {})]) {
      expect([answer.status, statusOf(answer).status.code]).toEqual([404, status.NOT_FOUND]);
    }
    const list = await fetchHttp(`${base(open)}/v1/batches`);
    expect([list.status, list.headers.allow]).toEqual([405, "POST"]);
    const cancelByGet = await fetchHttp(`${base(open)}/v1/batches/${id}:cancel`);
    expect([cancelByGet.status, cancelByGet.headers.allow]).toEqual([405, "POST"]);
    const headOfWatch = await fetchHttp(`${base(open)}/v1/batches/${id}:watch`, { method: "HEAD" });
    expect([headOfWatch.status, headOfWatch.headers.allow]).toEqual([405, "GET"]);
    const crossSite = await postJson(`${base(open)}/v1/batches`, { targets: targets(1, closedPort) }, { headers: { "sec-fetch-site": "cross-site" } });
    expect([crossSite.status, statusOf(crossSite).status.code]).toEqual([403, status.PERMISSION_DENIED]);
  });

  it("a coordinator with tokens: 401 without one; a batch is its caller's (another caller's id is NOT_FOUND), watched to the end by its own", async () => {
    const withToken = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    const refused = await postJson(`${base(tokens)}/v1/batches`, { targets: targets(1, closedPort), options: { regions: [REGION] } });
    expect([refused.status, refused.headers["www-authenticate"]]).toEqual([401, 'Bearer realm="smtp-probe"']);
    expect(statusOf(refused).status.code).toBe(status.UNAUTHENTICATED);
    const created = decodeBatch(await postJson(`${base(tokens)}/v1/batches`, { targets: targets(2, closedPort), options: { regions: [REGION] } }, withToken(TOKEN_A)));
    for (const path of [`/v1/batches/${created.batchId}`, `/v1/batches/${created.batchId}:watch`]) {
      expect((await fetchHttp(`${base(tokens)}${path}`)).status).toBe(401);
      expect((await fetchHttp(`${base(tokens)}${path}`, withToken(TOKEN_B))).status).toBe(404);
    }
    const events = watchEvents(await fetchHttp(`${base(tokens)}/v1/batches/${created.batchId}:watch`, withToken(TOKEN_A)));
    expect(events.at(-1)?.event.progress).toMatchObject({ state: BatchState.BATCH_STATE_DONE, reported: 2 });
  });
});

describe.skipIf(nats.skip)("the batch queue's bound (--batch-queue-items)", () => {
  let server: NatsServer;
  let coordinator: RunningCoordinator;
  let port: number;

  beforeAll(async () => {
    [server, port] = await Promise.all([startNatsServer(), freePort()]);
    // No worker takes an item (concurrency 0): what is queued stays queued.
    const config = testCoordinatorConfig([port], { nats: { servers: server.url }, http: { host: "127.0.0.1", port: 0 }, batch: { maxTargets: 10, maxQueuedItems: 7, concurrency: 0 } });
    coordinator = await startCoordinator(config, silentLogger());
  }, 60_000);

  afterAll(async () => {
    await coordinator?.stop(1_000);
    await server?.stop();
  });

  // A batch taken puts its spool job and its first item in the queue at once (the rest follow from
  // its stored targets as the spool job runs: here never, no worker runs), so the room left shrinks
  // by two per batch; a batch needs room for its items and its spool job.
  it("a batch larger than the room left is refused UNAVAILABLE 503, queueing nothing; one that fits is taken", async () => {
    const url = `${coordinator.http!.scheme}://127.0.0.1:${coordinator.http!.port}/v1/batches`;
    const targets = (n: number) => Array.from({ length: n }, () => ({ host: "127.0.0.1", ports: [port] }));
    const tooMany = await postJson(url, { targets: targets(7) });
    expect(tooMany.status, tooMany.text).toBe(503);
    expect(statusOf(tooMany).status).toMatchObject({ code: status.UNAVAILABLE, message: expect.stringContaining("no room for 7 more items") });
    expect(decodeBatch(await postJson(url, { targets: targets(6) }))).toMatchObject({ total: 6, queued: 0 });
    const over = await postJson(url, { targets: targets(5) });
    expect(over.status, over.text).toBe(503);
    expect(statusOf(over).status.message).toContain("no room for 5 more items");
    expect(decodeBatch(await postJson(url, { targets: targets(4) }))).toMatchObject({ total: 4 });
    expect(decodeBatch(await postJson(url, { targets: targets(2) }))).toMatchObject({ total: 2 });
    const full = await postJson(url, { targets: targets(1) });
    expect(full.status, full.text).toBe(503);
    expect(statusOf(full).status.message).toContain("no room for 1 more items");
  });
});
