// Monitors over the HTTP/JSON API: two coordinators started in this process sharing a nats-server
// with JetStream started here (one open on loopback, one with bearer tokens) and an agent over the
// same server probing a closed port (a run ends at once). POST /v1/monitors, GET /v1/monitors
// (paged), GET and DELETE /v1/monitors/{monitor_id}, GET …:watch as Server-Sent Events (one `run`
// event per run, its id the run's number); the per-caller bound; validation naming the field;
// callers. Every answer is read with the generated fromJSON and checked against the mapping.
import { request as httpRequest } from "node:http";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../../../agents/probe/agent.js";
import { BadRequest } from "../../../../gen/google/rpc/error_details.js";
import { Status } from "../../../../gen/google/rpc/status.js";
import { ListMonitorsResponse, Monitor, MonitorEvent } from "../../../../gen/smtpprobe/v1/monitor.js";
import { VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import type { Bus } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { listMonitorsJson, monitorEventJson, monitorJson } from "../../../../lib/proto-json.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { freePort } from "../../../helpers/free-port.js";
import { fetchHttp, postJson, type HttpAnswer } from "../../../helpers/http-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";
import { withTimeout } from "../../../helpers/wait.js";
import { SseParser } from "../../../../web/sse-parser.js";
import { startRegionAgent } from "./region-agent.js";

const nats = await need(natsServerAvailable);
const REGION = "eu-west";
const TOKEN_A = "http-monitor-token-of-alice-01";
const TOKEN_B = "http-monitor-token-of-bob-2345";
const PER_CALLER = 3;

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
function decodeMonitor(answer: HttpAnswer): Monitor {
  expect(answer.status, answer.text).toBe(200);
  const json = answer.json();
  const monitor = Monitor.fromJSON(json);
  expect(monitorJson(monitor)).toEqual(json);
  return monitor;
}

function decodeList(answer: HttpAnswer): ListMonitorsResponse {
  expect(answer.status, answer.text).toBe(200);
  const json = answer.json();
  const list = ListMonitorsResponse.fromJSON(json);
  expect(listMonitorsJson(list)).toEqual(json);
  return list;
}

interface WatchedRun {
  id: string | undefined;
  name: string;
  event: MonitorEvent;
}

/**
 * A watch read as it arrives until `count` events have come (the stream itself never ends), then
 * the connection closed. The status and headers come before the first run.
 */
function watchRuns(url: string, count: number, headers: Record<string, string> = {}): { headers: Promise<{ status: number; type: string | undefined }>; runs: Promise<WatchedRun[]> } {
  let onHeaders: (h: { status: number; type: string | undefined }) => void = () => undefined;
  const headersSeen = new Promise<{ status: number; type: string | undefined }>((resolve) => (onHeaders = resolve));
  const runs = new Promise<WatchedRun[]>((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      onHeaders({ status: res.statusCode ?? 0, type: res.headers["content-type"] });
      const parser = new SseParser();
      const found: WatchedRun[] = [];
      res.on("data", (chunk: Buffer) => {
        for (const { id, event: name, data } of parser.push(chunk.toString("utf8"))) {
          const json = JSON.parse(data) as unknown;
          const event = MonitorEvent.fromJSON(json);
          expect(monitorEventJson(event)).toEqual(json);
          found.push({ id, name, event });
        }
        if (found.length >= count) {
          req.destroy();
          resolve(found);
        }
      });
      res.on("end", () => resolve(found));
    });
    req.on("error", (error) => (req.destroyed ? undefined : reject(error)));
    req.end();
  });
  return { headers: headersSeen, runs };
}

describe.skipIf(nats.skip)("monitors over HTTP, through coordinators sharing JetStream", () => {
  let server: NatsServer;
  let closedPort: number;
  let open: RunningCoordinator;
  let tokens: RunningCoordinator;
  let agentBus: Bus;
  let agent: RunningAgent;

  const base = (c: RunningCoordinator): string => `${c.http!.scheme}://127.0.0.1:${c.http!.port}`;
  const monitorOf = (intervalSeconds: number) => ({ probe: { host: "127.0.0.1", ports: [closedPort], regions: [REGION] }, intervalSeconds });
  const remove = (c: RunningCoordinator, id: string, headers: Record<string, string> = {}) => fetchHttp(`${base(c)}/v1/monitors/${id}`, { method: "DELETE", headers });

  beforeAll(async () => {
    [server, closedPort] = await Promise.all([startNatsServer(), freePort()]);
    const config = (overrides: Parameters<typeof testCoordinatorConfig>[1]) =>
      testCoordinatorConfig([closedPort], { nats: { servers: server.url }, http: { host: "127.0.0.1", port: 0 }, monitors: { minIntervalMs: 1_000, maxMonitors: 100, maxMonitorsPerCaller: PER_CALLER }, ...overrides });
    [open, tokens] = await Promise.all([
      startCoordinator(config({}), silentLogger()),
      startCoordinator(config({ auth: { tokens: new Map([[TOKEN_A, "alice"], [TOKEN_B, "bob"]]) } }), silentLogger()),
    ]);
    ({ bus: agentBus, agent } = await startRegionAgent(server.url, "http-monitor-agent", REGION, base(open)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all([open, tokens].map((c) => c?.stop(1_000)));
    await agent?.stop(0);
    await agentBus?.drain();
    await server?.stop();
  });

  it("POST /v1/monitors, GET it, GET …:watch: 200 before the first run, then each run a `run` event whose id is its number; DELETE: gone", async () => {
    const created = decodeMonitor(await postJson(`${base(open)}/v1/monitors`, { ...monitorOf(1), webhookUrl: "http://127.0.0.1:9/hook", webhookSecret: "monitor-webhook-secret-0123" }));
    expect(created.monitorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created).toMatchObject({ intervalSeconds: 1, webhookUrl: "http://127.0.0.1:9/hook" });
    expect(JSON.stringify(monitorJson(created))).not.toContain("secret");
    const got = decodeMonitor(await fetchHttp(`${base(open)}/v1/monitors/${created.monitorId}`));
    expect(got).toEqual(created);

    const watch = watchRuns(`${base(open)}/v1/monitors/${created.monitorId}:watch`, 2);
    expect(await withTimeout(watch.headers, 2_000, "the watch's headers before its first run")).toEqual({ status: 200, type: "text/event-stream; charset=utf-8" });
    const runs = await withTimeout(watch.runs, 15_000, "two runs");
    expect(runs.map((r) => r.name)).toEqual(["run", "run"]);
    expect(runs.map((r) => r.id)).toEqual(runs.map((r) => String(r.event.run)));
    expect(runs[1]!.event.run).toBe(runs[0]!.event.run + 1);
    expect(runs.map((r) => [r.event.monitorId, r.event.error, r.event.report?.comparison?.verdicts[0]?.kind])).toEqual(runs.map(() => [created.monitorId, "", VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE]));
    // The watcher went away: no call left on the coordinator.
    await withTimeout(open.operations.calls.idle(), 2_000, "the watch still runs after its client went away");

    expect(decodeMonitor(await remove(open, created.monitorId))).toEqual(created);
    for (const answer of [await fetchHttp(`${base(open)}/v1/monitors/${created.monitorId}`), await remove(open, created.monitorId), await fetchHttp(`${base(open)}/v1/monitors/${created.monitorId}:watch`)]) {
      expect([answer.status, statusOf(answer).status.code]).toEqual([404, status.NOT_FOUND]);
    }
  }, 30_000);

  it("GET /v1/monitors: the caller's monitors a page at a time; past --max-monitors-per-caller RESOURCE_EXHAUSTED 429", async () => {
    const created = [];
    for (let i = 0; i < PER_CALLER; i++) created.push(decodeMonitor(await postJson(`${base(open)}/v1/monitors`, monitorOf(3600))));
    const over = await postJson(`${base(open)}/v1/monitors`, monitorOf(3600));
    expect([over.status, statusOf(over).status.code]).toEqual([429, status.RESOURCE_EXHAUSTED]);
    expect(statusOf(over).status.message).toContain(`at most ${PER_CALLER} monitors`);

    const ids = created.map((m) => m.monitorId).sort();
    const first = decodeList(await fetchHttp(`${base(open)}/v1/monitors?pageSize=2`));
    expect(first.monitors.map((m) => m.monitorId)).toEqual(ids.slice(0, 2));
    const second = decodeList(await fetchHttp(`${base(open)}/v1/monitors?page_size=2&page_token=${first.nextPageToken}`));
    expect(second).toEqual({ monitors: [created.find((m) => m.monitorId === ids[2])], nextPageToken: "" });
    expect(decodeList(await fetchHttp(`${base(open)}/v1/monitors`)).monitors).toHaveLength(PER_CALLER);

    for (const id of ids) decodeMonitor(await remove(open, id));
    expect(decodeList(await fetchHttp(`${base(open)}/v1/monitors`))).toEqual({ monitors: [], nextPageToken: "" });
  });

  it.each<[string, () => Promise<HttpAnswer>, string]>([
    ["an interval under the coordinator's shortest", () => postJson(`${base(open)}/v1/monitors`, monitorOf(0)), "interval_seconds: must be between 1 and 86400"],
    ["a field that does not exist", () => postJson(`${base(open)}/v1/monitors`, { ...monitorOf(5), every: 5 }), "every: is not a field of smtpprobe.v1.CreateMonitorRequest"],
    ["a bad host", () => postJson(`${base(open)}/v1/monitors`, { probe: { host: "bad host!" }, intervalSeconds: 5 }), "probe.host"],
    ["a page too large", () => fetchHttp(`${base(open)}/v1/monitors?page_size=1001`), "page_size: must be at most 1000"],
    ["a page token not given by a list", () => fetchHttp(`${base(open)}/v1/monitors?page_token=x`), "page_token: must be the next_page_token"],
    ["a malformed monitor id", () => fetchHttp(`${base(open)}/v1/monitors/nope`), "monitor_id: must be a monitor id"],
    ["a query parameter the watch does not take", () => fetchHttp(`${base(open)}/v1/monitors/00000000-0000-4000-8000-000000000000:watch?after=3`), "after: is not a query parameter"],
  ])("%s: INVALID_ARGUMENT 400 naming the field", async (_name, send, expected) => {
    const answer = await send();
    expect(answer.status, answer.text).toBe(400);
    expect(statusOf(answer).status.code).toBe(status.INVALID_ARGUMENT);
    expect(violations(answer).join("\n")).toContain(expected);
  });

  it("wrong methods 405 with Allow; a cross-site DELETE 403", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    const put = await fetchHttp(`${base(open)}/v1/monitors`, { method: "PUT" });
    expect([put.status, put.headers.allow]).toEqual([405, "POST, GET"]);
    const postToOne = await postJson(`${base(open)}/v1/monitors/${id}`, {});
    expect([postToOne.status, postToOne.headers.allow]).toEqual([405, "GET, DELETE"]);
    const crossSite = await remove(open, id, { "sec-fetch-site": "cross-site" });
    expect([crossSite.status, statusOf(crossSite).status.code]).toEqual([403, status.PERMISSION_DENIED]);
  });

  it("a coordinator with tokens: 401 without one; a monitor is its caller's (listed, read, watched and deleted by its own only)", async () => {
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    const refused = await postJson(`${base(tokens)}/v1/monitors`, monitorOf(3600));
    expect([refused.status, statusOf(refused).status.code]).toEqual([401, status.UNAUTHENTICATED]);
    const created = decodeMonitor(await postJson(`${base(tokens)}/v1/monitors`, monitorOf(3600), { headers: as(TOKEN_A) }));
    expect((await remove(tokens, created.monitorId)).status).toBe(401);
    for (const answer of [
      await fetchHttp(`${base(tokens)}/v1/monitors/${created.monitorId}`, { headers: as(TOKEN_B) }),
      await fetchHttp(`${base(tokens)}/v1/monitors/${created.monitorId}:watch`, { headers: as(TOKEN_B) }),
      await remove(tokens, created.monitorId, as(TOKEN_B)),
    ]) {
      expect(answer.status).toBe(404);
    }
    expect(decodeList(await fetchHttp(`${base(tokens)}/v1/monitors`, { headers: as(TOKEN_B) })).monitors).toEqual([]);
    expect(decodeList(await fetchHttp(`${base(tokens)}/v1/monitors`, { headers: as(TOKEN_A) })).monitors).toEqual([created]);
    expect(decodeMonitor(await remove(tokens, created.monitorId, as(TOKEN_A)))).toEqual(created);
  });
});
