// MonitorMetrics against a private nats-server with JetStream: events published on monitors'
// subjects become series once the monitor's record is found; what is not a monitor's event, or is
// the event of a monitor without a record (deleted), leaves nothing; the bound holds; a deleted
// monitor is forgotten at the next listing; at start, each monitor's last kept event is read, for
// --max-monitors monitors at most and MAX_LOOKUPS at a time.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MonitorEvent } from "../../../../gen/smtpprobe/v1/monitor.js";
import { ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import type { Bus } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { MonitorEventLog } from "../../../../services/coordinator/monitor/monitor-events.js";
import { LIST_EVERY_MS, MAX_LOOKUPS, MonitorMetrics } from "../../../../services/coordinator/monitor/monitor-metrics.js";
import { MonitorStore, monitorEventSubject } from "../../../../services/coordinator/monitor/monitor-store.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../../../helpers/nats-server.js";
import { done, ok, report } from "../../../helpers/report-builders.js";
import { need } from "../../../helpers/requirements.js";
import { waitFor } from "../../../helpers/wait.js";

const nats = await need(natsServerAvailable);
const IDS = ["1b4e28ba-2fa1-41d2-883f-0016d3cca427", "2b4e28ba-2fa1-41d2-883f-0016d3cca427", "3b4e28ba-2fa1-41d2-883f-0016d3cca427"];
const UNKNOWN = "9b4e28ba-2fa1-41d2-883f-0016d3cca427";

describe.skipIf(nats.skip)("MonitorMetrics over a real nats-server", () => {
  let server: NatsServer;
  let bus: Bus;
  let store: MonitorStore;
  let metrics: MonitorMetrics | undefined;

  beforeAll(async () => {
    server = await startNatsServer();
    bus = await connectNatsBus({ servers: server.url, name: "monitor-metrics-test" });
    store = (await MonitorStore.open(bus))!;
    for (const [i, monitorId] of IDS.entries()) {
      await store.put({ monitorId, caller: "svc", intervalMs: 60_000 * (i + 1), createdAt: Date.now(), probe: ProbeRequest.fromPartial({ host: `mx${i}.example.com`, ports: [25] }), webhookUrl: "", webhookSecret: "" });
    }
  });

  afterEach(() => metrics?.stop());

  afterAll(async () => {
    await bus?.drain();
    await server?.stop();
  });

  const publish = (monitorId: string, run: number, subject = monitorEventSubject(monitorId)): void => {
    const probed = report(["eu-west"], [25], [done("eu-west", 25, [ok()])]);
    probed.finishedAt = new Date(Date.now() - 1000 + run);
    bus.publish(subject, MonitorEvent.encode({ monitorId, run, report: probed, changes: [], regionChanges: [], first: run === 1, error: "" }).finish());
  };
  const series = async (): Promise<string[]> => (await metrics!.metrics()).split("\n").filter((line) => line.startsWith("smtpprobe_monitor_success{"));

  it("an event of a monitor with a record becomes its series; others leave nothing", async () => {
    metrics = new MonitorMetrics({ bus, store, maxMonitors: 10, logger: silentLogger() });
    metrics.start();
    bus.publish(monitorEventSubject(IDS[0]!), Buffer.from("not protobuf at all \xff"));
    publish(UNKNOWN, 1); // no record: deleted, or never created
    publish(IDS[1]!, 1, monitorEventSubject(IDS[2]!)); // the subject of another monitor
    publish(IDS[0]!, 3);
    await waitFor(() => metrics!.size === 1, 5_000, "one monitor's series");
    expect(await series()).toEqual([`smtpprobe_monitor_success{monitor_id="${IDS[0]}",host="mx0.example.com",region="eu-west",port="25"} 1`]);
    expect(await metrics.metrics()).toContain(`smtpprobe_monitor_interval_seconds{monitor_id="${IDS[0]}",host="mx0.example.com"} 60\n`);
    expect(await metrics.metrics()).toContain(`smtpprobe_monitor_last_run{monitor_id="${IDS[0]}",host="mx0.example.com"} 3\n`);
  });

  it("keeps at most --max-monitors: a new monitor takes the place of the oldest run", async () => {
    metrics = new MonitorMetrics({ bus, store, maxMonitors: 2, logger: silentLogger() });
    metrics.start();
    publish(IDS[0]!, 1);
    await waitFor(() => metrics!.size === 1, 5_000, "the first monitor");
    publish(IDS[1]!, 2);
    await waitFor(() => metrics!.size === 2, 5_000, "the second monitor");
    publish(IDS[2]!, 3);
    await waitFor(async () => (await series()).some((line) => line.includes(IDS[2]!)), 5_000, "the third monitor");
    expect((await series()).map((line) => /monitor_id="([^"]+)"/.exec(line)?.[1])).toEqual([IDS[1], IDS[2]]);
  });

  it(
    "forgets a deleted monitor at the next listing",
    async () => {
      metrics = new MonitorMetrics({ bus, store, maxMonitors: 10, logger: silentLogger() });
      metrics.start();
      publish(IDS[0]!, 5);
      publish(IDS[1]!, 5);
      await waitFor(() => metrics!.size === 2, 5_000, "two monitors");
      await store.delete({ monitorId: IDS[1]!, caller: "svc" });
      await waitFor(() => metrics!.size === 1, LIST_EVERY_MS * 2 + 2_000, "the deleted monitor forgotten");
      expect((await series()).map((line) => /monitor_id="([^"]+)"/.exec(line)?.[1])).toEqual([IDS[0]]);
    },
    LIST_EVERY_MS * 3 + 5_000,
  );

  it("at start, each monitor's last kept event gives its series at once; a run after it replaces it", async () => {
    const events = (await MonitorEventLog.open(bus))!;
    const probed = report(["eu-west"], [25], [done("eu-west", 25, [ok()])]);
    for (const run of [4, 5]) await events.keep({ monitorId: IDS[2]!, run, report: probed, changes: [], regionChanges: [], first: false, error: "" });
    expect((await events.last(IDS[2]!))?.run).toBe(5);
    expect(await events.last(IDS[0]!)).toBeUndefined(); // nothing kept: its series come with its next run
    metrics = new MonitorMetrics({ bus, store, events, maxMonitors: 10, logger: silentLogger() });
    metrics.start();
    await waitFor(() => metrics!.size === 1, 5_000, "the kept monitor's series");
    expect(await metrics.metrics()).toContain(`smtpprobe_monitor_last_run{monitor_id="${IDS[2]}",host="mx2.example.com"} 5\n`);
    await events.keep({ monitorId: IDS[2]!, run: 6, report: probed, changes: [], regionChanges: [], first: false, error: "" });
    await waitFor(async () => (await metrics!.metrics()).includes(`smtpprobe_monitor_last_run{monitor_id="${IDS[2]}",host="mx2.example.com"} 6\n`), 5_000, "the next run, live");
  });

  it("at start, reads the kept events of --max-monitors monitors at most, MAX_LOOKUPS at a time", async () => {
    // 100 more monitors (103 in all), each of whose kept events takes 20 ms to read.
    for (let i = 0; i < 100; i++) {
      const monitorId = `4b4e28ba-2fa1-41d2-883f-${String(i).padStart(12, "0")}`;
      await store.put({ monitorId, caller: "svc", intervalMs: 60_000, createdAt: Date.now(), probe: ProbeRequest.fromPartial({ host: `mx${i}.example.net`, ports: [25] }), webhookUrl: "", webhookSecret: "" });
    }
    let reads = 0;
    let reading = 0;
    let most = 0;
    const events = {
      last: async (): Promise<undefined> => {
        reads += 1;
        most = Math.max(most, ++reading);
        await new Promise((resolve) => setTimeout(resolve, 20));
        reading -= 1;
        return undefined;
      },
    };
    metrics = new MonitorMetrics({ bus, store, events, maxMonitors: 80, logger: silentLogger() });
    metrics.start();
    await waitFor(() => reads === 80 && reading === 0, 10_000, () => `${reads} kept events read`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([reads, most]).toEqual([80, MAX_LOOKUPS]);
  });
});
