// The bounds on monitors under creations at once: two coordinators started in this process sharing
// a nats-server with JetStream, creations through the HTTP/JSON API of both at the same time. The
// per-caller bound is met exactly (a slot per monitor); the global one is never left exceeded
// (counted before and after each write, the monitor taken back when over).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListMonitorsResponse, Monitor } from "../../../../gen/smtpprobe/v1/monitor.js";
import { silentLogger } from "../../../../lib/logger.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { freePort } from "../../../helpers/free-port.js";
import { fetchHttp, postJson } from "../../../helpers/http-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { need } from "../../../helpers/requirements.js";

const nats = await need(natsServerAvailable);
const TOKENS = new Map([
  ["monitor-bounds-token-of-alice-01", "alice"],
  ["monitor-bounds-token-of-bob-2345", "bob"],
  ["monitor-bounds-token-of-carol-67", "carol"],
]);
const PER_CALLER = 3;
const MAX_MONITORS = 5;

describe.skipIf(nats.skip)("the bounds on monitors, creations at once through two coordinators", () => {
  let server: NatsServer;
  let coordinators: RunningCoordinator[];
  let closedPort: number;

  const base = (c: RunningCoordinator): string => `${c.http!.scheme}://127.0.0.1:${c.http!.port}`;
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const [alice, bob, carol] = [...TOKENS.keys()] as [string, string, string];
  const create = (i: number, token: string) =>
    postJson(`${base(coordinators[i % 2]!)}/v1/monitors`, { probe: { host: "127.0.0.1", ports: [closedPort] }, intervalSeconds: 3600 }, { headers: as(token) });
  const list = async (token: string) => ListMonitorsResponse.fromJSON((await fetchHttp(`${base(coordinators[0]!)}/v1/monitors`, { headers: as(token) })).json()).monitors;
  const removeAll = async (token: string) => {
    for (const m of await list(token)) await fetchHttp(`${base(coordinators[1]!)}/v1/monitors/${m.monitorId}`, { method: "DELETE", headers: as(token) });
  };

  beforeAll(async () => {
    [server, closedPort] = await Promise.all([startNatsServer(), freePort()]);
    const config = testCoordinatorConfig([closedPort], {
      nats: { servers: server.url },
      http: { host: "127.0.0.1", port: 0 },
      auth: { tokens: TOKENS },
      monitors: { minIntervalMs: 1_000, maxMonitors: MAX_MONITORS, maxMonitorsPerCaller: PER_CALLER },
    });
    coordinators = await Promise.all([startCoordinator(config, silentLogger()), startCoordinator(config, silentLogger())]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all((coordinators ?? []).map((c) => c.stop(1_000)));
    await server?.stop();
  });

  it("of 12 creations at once by one caller, exactly --max-monitors-per-caller succeed; a deletion frees one place", async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => create(i, alice)));
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(3).fill(200), ...Array(9).fill(429)]);
    const held = await list(alice);
    expect(held).toHaveLength(PER_CALLER);
    await fetchHttp(`${base(coordinators[0]!)}/v1/monitors/${held[0]!.monitorId}`, { method: "DELETE", headers: as(alice) });
    const again = await Promise.all([create(0, alice), create(1, alice)]);
    expect(again.map((a) => a.status).sort()).toEqual([200, 429]);
    expect(Monitor.fromJSON(again.find((a) => a.status === 200)!.json()).monitorId).not.toBe(held[0]!.monitorId);
    await removeAll(alice);
  });

  it("creations at once by three callers past --max-monitors: never more than it kept, and room again after deletions", async () => {
    const answers = await Promise.all(Array.from({ length: 9 }, (_, i) => create(i, [alice, bob, carol][i % 3]!)));
    const created = answers.filter((a) => a.status === 200).length;
    expect(created).toBeGreaterThan(0);
    expect(created).toBeLessThanOrEqual(MAX_MONITORS);
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
    const kept = (await Promise.all([alice, bob, carol].map(list))).flat();
    expect(kept).toHaveLength(created);
    for (const token of [alice, bob, carol]) await removeAll(token);
    expect((await create(0, carol)).status).toBe(200);
    await removeAll(carol);
  });
});
