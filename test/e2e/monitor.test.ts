// Monitors through the MonitorService of two real coordinators sharing a private nats-server with
// JetStream, an agent and an smtp-server fixture on 127.0.0.1: every run of a monitor is probed
// and published once whichever coordinator claims it, a watcher on the other coordinator sees the
// runs in order, and when the server goes away the next run says which verdicts changed; a server
// whose certificate is replaced between runs gives one event naming the region, the port and both
// fingerprints, delivered signed to the webhook; a watch resumed with --after gets the kept runs.
// Apart, three coordinators on a nats-server of their own: one killed (SIGKILL) while it probes a
// run, another takes the run over once its lease has run out; one stopped (SIGTERM) while it
// probes a run ends the run and keeps it, none probes it again; every run kept once, none missed.
import { createHmac, X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateMonitorRequest, MonitorServiceDefinition, RegionChangeKind, type ListMonitorsResponse, type Monitor, type MonitorEvent } from "../../gen/smtpprobe/v1/monitor.js";
import { VerdictKind } from "../../gen/smtpprobe/v1/probe_service.js";
import { grpcClientConstructor } from "../../lib/grpc-service.js";
import { testPki, type PemPair } from "../helpers/certs.js";
import { connectProbeApi } from "../helpers/grpc-client.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { runCli, startAgentProcess, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, stopAll, type AgentProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";
import { waitFor } from "../helpers/wait.js";

const nats = await need(natsServerAvailable);
const SECRET = "monitor-webhook-secret-0123";
const REGION = "eu-west";
const MonitorClient = grpcClientConstructor(MonitorServiceDefinition);
type Client = InstanceType<typeof MonitorClient>;

const unary = <T>(call: (callback: (error: ServiceError | null, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => call((error, value) => (error || value === undefined ? reject(error ?? new Error("no answer")) : resolve(value))));
const deadline = () => ({ deadline: Date.now() + 10_000 });

describe.skipIf(nats.skip)("monitors through two coordinators sharing JetStream", () => {
  let server: NatsServer;
  let fixture: SmtpFixture;
  /** Its certificate replaced between runs: certA, then certB. */
  let renewing: SmtpFixture;
  let certA: PemPair;
  let certB: PemPair;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let agent: AgentProcess;
  let clientA: Client;
  let clientB: Client;
  let hook: Server;
  let hookPort: number;
  const hooks: { body: string; signature: string }[] = [];

  beforeAll(async () => {
    hook = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        hooks.push({ body, signature: String(request.headers["smtp-probe-signature"]) });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
    hookPort = (hook.address() as AddressInfo).port;
    const pki = await testPki();
    const names = ["fixture.test", "localhost", "127.0.0.1"];
    [certA, certB] = await Promise.all([pki.leaf({ names }), pki.leaf({ names })]);
    [server, fixture, renewing] = await Promise.all([startNatsServer(), startSmtpFixture(), startSmtpFixture({ tls: certA })]);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port, renewing.port] };
    const args = ["--monitor-min-interval", "1s", "--max-monitors-per-caller", "3"];
    [a, b] = await Promise.all([startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: args }), startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: args })]);
    const probeApi = connectProbeApi(b.address);
    try {
      agent = await startAgentProcess({ region: REGION, agentId: `${REGION}-1`, nats: server.url, readyVia: Promise.resolve(probeApi), ...policy });
    } finally {
      probeApi.close();
    }
    clientA = new MonitorClient(a.address, credentials.createInsecure());
    clientB = new MonitorClient(b.address, credentials.createInsecure());
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    clientA?.close();
    clientB?.close();
    await stopAll([a, b, agent]);
    await Promise.all([server?.stop(), fixture?.stop(), renewing?.stop(), new Promise((resolve) => hook?.close(resolve))]);
  });

  /** The monitor watched through both coordinators: every run through B, the changes only through A. */
  const watchBoth = (monitorId: string): { events: MonitorEvent[]; changes: MonitorEvent[]; cancel(): void } => {
    const events: MonitorEvent[] = [];
    const changes: MonitorEvent[] = [];
    const all = clientB.watchMonitor({ monitorId, changesOnly: false, afterRun: 0, fromOldest: false }, new Metadata());
    const changed = clientA.watchMonitor({ monitorId, changesOnly: true, afterRun: 0, fromOldest: false }, new Metadata());
    all.on("data", (event: MonitorEvent) => events.push(event));
    changed.on("data", (event: MonitorEvent) => changes.push(event));
    all.on("error", () => undefined);
    changed.on("error", () => undefined);
    return { events, changes, cancel: () => [all, changed].forEach((stream) => stream.cancel()) };
  };

  it(
    "each run once, in order, seen from the other coordinator; the server gone, the next run says what changed",
    async () => {
      const monitor = await unary<Monitor>((cb) =>
        clientA.createMonitor(
          CreateMonitorRequest.fromPartial({ probe: { host: "127.0.0.1", ports: [fixture.port], regions: [REGION] }, intervalSeconds: 1, webhookUrl: `http://127.0.0.1:${hookPort}/smtp-probe`, webhookSecret: SECRET }),
          new Metadata(), deadline(),
          cb,
        ),
      );
      expect(monitor).toMatchObject({ intervalSeconds: 1, webhookUrl: `http://127.0.0.1:${hookPort}/smtp-probe` });
      const { events, changes, cancel } = watchBoth(monitor.monitorId);
      try {
        await waitFor(() => events.length >= 3, 15_000, () => `3 runs: ${events.length}`);
        expect(events.every((e) => e.report?.complete && e.error === "")).toBe(true);
        expect(events.slice(0, 3).map((e) => e.report?.comparison?.verdicts[0]?.kind)).toEqual([VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE]);
        expect(changes).toEqual([]);

        await fixture.stop();
        await waitFor(() => changes.length >= 1, 15_000, () => `a change: ${events.map((e) => e.report?.comparison?.verdicts.map((v) => v.kind)).join(" | ")}`);
        // The change went to the webhook too, signed with the monitor's secret.
        await waitFor(() => hooks.length >= 1, 10_000, "a webhook delivery");
        const [, t, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(hooks[0]!.signature) ?? [];
        expect(mac).toBe(createHmac("sha256", SECRET).update(`${t}.${hooks[0]!.body}`).digest("hex"));
        const delivered = JSON.parse(hooks[0]!.body) as { monitorId: string; run: string; changes: { kind: string; appeared?: boolean }[] };
        expect(delivered.monitorId).toBe(monitor.monitorId);
        expect(delivered.changes).toEqual([{ port: fixture.port, kind: "VERDICT_KIND_REACHABLE_EVERYWHERE" }, { port: fixture.port, kind: "VERDICT_KIND_UNREACHABLE_EVERYWHERE", appeared: true }]);
        expect(changes[0]!.changes).toEqual([
          { port: fixture.port, kind: VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, appeared: false },
          { port: fixture.port, kind: VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE, appeared: true },
        ]);
        // The region says it too; what it no longer sees (the certificate) is no change.
        expect(changes[0]!.regionChanges).toEqual([{ region: REGION, port: fixture.port, kind: RegionChangeKind.REGION_CHANGE_KIND_REACHABILITY, before: "reached", after: "blocked", thresholdDays: 0 }]);
        // Every run published once: the watcher saw each run number once, in order, none skipped.
        const runs = events.map((e) => e.run);
        expect(runs).toEqual(Array.from({ length: runs.length }, (_, i) => runs[0]! + i));
        expect(events[0]!.first).toBe(true);
        expect(events.slice(1).every((e) => !e.first)).toBe(true);
      } finally {
        cancel();
      }
      const deleted = await unary<Monitor>((cb) => clientB.deleteMonitor({ monitorId: monitor.monitorId }, new Metadata(), deadline(), cb));
      expect(deleted.monitorId).toBe(monitor.monitorId);
      const gone = await unary<Monitor>((cb) => clientA.getMonitor({ monitorId: monitor.monitorId }, new Metadata(), deadline(), cb)).catch((e: ServiceError) => e);
      expect((gone as ServiceError).code).toBe(status.NOT_FOUND);
    },
    60_000,
  );

  it(
    "a certificate replaced between runs: exactly one event, naming the region, the port and both fingerprints, delivered signed",
    async () => {
      const [fingerprintA, fingerprintB] = [certA, certB].map((c) => new X509Certificate(c.certPem).fingerprint256);
      expect(fingerprintA).not.toBe(fingerprintB);
      const monitor = await unary<Monitor>((cb) =>
        clientA.createMonitor(
          CreateMonitorRequest.fromPartial({ probe: { host: "127.0.0.1", ports: [renewing.port], regions: [REGION] }, intervalSeconds: 1, webhookUrl: `http://127.0.0.1:${hookPort}/renewal`, webhookSecret: SECRET }),
          new Metadata(), deadline(),
          cb,
        ),
      );
      const delivered = () => hooks.filter((h) => (JSON.parse(h.body) as { monitorId: string }).monitorId === monitor.monitorId);
      const { events, changes, cancel } = watchBoth(monitor.monitorId);
      try {
        // Two runs with certificate A: the first, and one that changed nothing.
        await waitFor(() => events.length >= 2, 10_000, () => `2 runs: ${events.length}`);
        expect(changes).toEqual([]);
        renewing.useCertificate(certB);
        await waitFor(() => changes.length >= 1, 10_000, () => `a change: ${events.map((e) => e.regionChanges.length).join(" ")}`);
        const [event] = changes;
        expect(event!.changes).toEqual([]);
        expect(event!.regionChanges).toEqual([{ region: REGION, port: renewing.port, kind: RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE, before: fingerprintA, after: fingerprintB, thresholdDays: 0 }]);
        // Two more runs with certificate B: no other event, no other delivery.
        await waitFor(() => events.some((e) => e.run >= event!.run + 2), 10_000, () => `2 runs after run ${event!.run}: ${events.map((e) => e.run).join(" ")}`);
        await waitFor(() => delivered().length >= 1, 10_000, "a webhook delivery");
        expect(changes).toHaveLength(1);
        expect(events.filter((e) => e.regionChanges.length > 0 || e.changes.length > 0).map((e) => e.run)).toEqual([event!.run]);
        expect(delivered()).toHaveLength(1);
        const [{ body, signature }] = delivered() as [{ body: string; signature: string }];
        const [, t, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature) ?? [];
        expect(mac).toBe(createHmac("sha256", SECRET).update(`${t}.${body}`).digest("hex"));
        expect(JSON.parse(body)).toMatchObject({
          run: String(event!.run),
          regionChanges: [{ region: REGION, port: renewing.port, kind: "REGION_CHANGE_KIND_CERTIFICATE", before: fingerprintA, after: fingerprintB }],
        });
      } finally {
        cancel();
      }
      await unary<Monitor>((cb) => clientA.deleteMonitor({ monitorId: monitor.monitorId }, new Metadata(), deadline(), cb));
    },
    30_000,
  );

  it("lists the caller's monitors a page at a time, from either coordinator; a caller keeps at most --max-monitors-per-caller", async () => {
    const create = () =>
      unary<Monitor>((cb) => clientA.createMonitor(CreateMonitorRequest.fromPartial({ probe: { host: "127.0.0.1", ports: [fixture.port], regions: [REGION] }, intervalSeconds: 3600 }), new Metadata(), deadline(), cb));
    const created = [await create(), await create(), await create()];
    const refused = (await create().catch((e: ServiceError) => e)) as ServiceError;
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toContain("at most 3 monitors");
    const ids = created.map((m) => m.monitorId).sort();

    const first = await unary<ListMonitorsResponse>((cb) => clientB.listMonitors({ pageSize: 2, pageToken: "" }, new Metadata(), deadline(), cb));
    expect(first.monitors.map((m) => m.monitorId)).toEqual(ids.slice(0, 2));
    expect(first.monitors[0]).toMatchObject({ intervalSeconds: 3600, probe: { host: "127.0.0.1" } });
    expect(first.nextPageToken).not.toBe("");
    const second = await unary<ListMonitorsResponse>((cb) => clientA.listMonitors({ pageSize: 2, pageToken: first.nextPageToken }, new Metadata(), deadline(), cb));
    expect(second.monitors.map((m) => m.monitorId)).toEqual(ids.slice(2));
    expect(second.nextPageToken).toBe("");

    const badToken = (await unary<ListMonitorsResponse>((cb) => clientA.listMonitors({ pageSize: 0, pageToken: "nope" }, new Metadata(), deadline(), cb)).catch((e: ServiceError) => e)) as ServiceError;
    expect(badToken.code).toBe(status.INVALID_ARGUMENT);
    expect(badToken.details).toContain("page_token");

    for (const id of ids) await unary<Monitor>((cb) => clientB.deleteMonitor({ monitorId: id }, new Metadata(), deadline(), cb));
    const none = await unary<ListMonitorsResponse>((cb) => clientA.listMonitors({ pageSize: 0, pageToken: "" }, new Metadata(), deadline(), cb));
    expect(none).toEqual({ monitors: [], nextPageToken: "" });
    // Room again: the deleted ones no longer count.
    const again = await create();
    await unary<Monitor>((cb) => clientA.deleteMonitor({ monitorId: again.monitorId }, new Metadata(), deadline(), cb));
  });

  it("creations at once through both coordinators: exactly --max-monitors-per-caller succeed; a deletion frees one", async () => {
    // The anonymous caller (no caller authentication here), who holds no monitor at this point.
    const as = () => new Metadata();
    const create = (client: Client) =>
      unary<Monitor>((cb) => client.createMonitor(CreateMonitorRequest.fromPartial({ probe: { host: "127.0.0.1", ports: [fixture.port], regions: [REGION] }, intervalSeconds: 3600 }), as(), deadline(), cb));
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => create(i % 2 === 0 ? clientA : clientB)));
    const created = results.filter((r): r is PromiseFulfilledResult<Monitor> => r.status === "fulfilled").map((r) => r.value);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => (r.reason as ServiceError).code);
    expect(created).toHaveLength(3);
    expect(refused).toEqual(Array.from({ length: 9 }, () => status.RESOURCE_EXHAUSTED));
    const listed = await unary<ListMonitorsResponse>((cb) => clientB.listMonitors({ pageSize: 0, pageToken: "" }, as(), deadline(), cb));
    expect(listed.monitors.map((m) => m.monitorId).sort()).toEqual(created.map((m) => m.monitorId).sort());

    await unary<Monitor>((cb) => clientA.deleteMonitor({ monitorId: created[0]!.monitorId }, as(), deadline(), cb));
    const again = await Promise.allSettled([create(clientA), create(clientB), create(clientA)]);
    expect(again.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const monitor of [...created.slice(1), ...again.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))]) {
      await unary<Monitor>((cb) => clientB.deleteMonitor({ monitorId: monitor.monitorId }, as(), deadline(), cb));
    }
  });

  it(
    "smtp-probe monitor: create, list, get, watch --count, watch --after, delete through the CLI",
    async () => {
      const created = await runCli(["monitor", "create", "127.0.0.1", "--interval", "1s", "--port", String(fixture.port), "--regions", REGION, "--coordinator", a.address, "--json"], {}, 30_000);
      expect(created.code, created.stderr).toBe(0);
      const monitor = JSON.parse(created.stdout) as { monitorId: string; intervalSeconds: number };
      expect(monitor).toMatchObject({ intervalSeconds: 1 });
      const listed = await runCli(["monitor", "list", "--coordinator", b.address], {}, 30_000);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toBe(`${monitor.monitorId}  127.0.0.1 ports ${fixture.port} from ${REGION} every 1s, since ${/since (\S+)$/m.exec(listed.stdout)?.[1]}\n`);
      const watched = await runCli(["monitor", "watch", monitor.monitorId, "--count", "2", "--json", "--coordinator", b.address], {}, 30_000);
      expect(watched.code, watched.stderr).toBe(0);
      const runs = watched.stdout.trim().split("\n").map((line) => JSON.parse(line) as { monitorId: string; run: string });
      expect(runs.map((r) => r.monitorId)).toEqual([monitor.monitorId, monitor.monitorId]);
      expect(Number(runs[1]!.run)).toBe(Number(runs[0]!.run) + 1);
      // Resumed after the first run, from the other coordinator: the second, as kept.
      const resumed = await runCli(["monitor", "watch", monitor.monitorId, "--after", runs[0]!.run, "--count", "1", "--json", "--coordinator", a.address], {}, 30_000);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout)).toEqual(runs[1]);
      const badAfter = await runCli(["monitor", "watch", monitor.monitorId, "--after", "-1", "--coordinator", a.address], {}, 30_000);
      expect([badAfter.code, badAfter.stderr]).toEqual([2, expect.stringContaining("--after")]);
      const deleted = await runCli(["monitor", "delete", monitor.monitorId, "--coordinator", a.address], {}, 30_000);
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(deleted.stderr).toContain(`monitor ${monitor.monitorId} deleted`);
      const gone = await runCli(["monitor", "get", monitor.monitorId, "--coordinator", a.address], {}, 30_000);
      expect(gone.code).toBe(4);
      expect(gone.stderr).toContain(monitor.monitorId);
      // A watch refused is not one to resume.
      const goneWatch = await runCli(["monitor", "watch", monitor.monitorId, "--after", runs[0]!.run, "--coordinator", a.address], {}, 30_000);
      expect(goneWatch.code).toBe(4);
      expect(goneWatch.stderr).not.toContain("Resume:");
      const bad = await runCli(["monitor", "watch", "nope", "--coordinator", a.address], {}, 30_000);
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("MONITOR_ID")]);
    },
    60_000,
  );

  it.each([
    [{ probe: { host: "127.0.0.1" }, intervalSeconds: 0 }, "interval_seconds: must be between 1 and 86400, got 0"],
    [{ probe: { host: "" }, intervalSeconds: 5 }, "probe.host"],
    [{ probe: { host: "127.0.0.1", idempotencyKey: "k" }, intervalSeconds: 5 }, "probe.idempotency_key: must be empty"],
    [{ probe: { host: "127.0.0.1" }, intervalSeconds: 5, webhookUrl: "ftp://x.example/" , webhookSecret: SECRET }, "webhook_url: must be http:// or https://"],
    [{ probe: { host: "127.0.0.1" }, intervalSeconds: 5, webhookUrl: "https://x.example/", webhookSecret: "short" }, "webhook_secret: must be 16 to 256 characters"],
  ])("a bad monitor %j is refused naming the field", async (request, message) => {
    const error = (await unary<Monitor>((cb) => clientA.createMonitor(CreateMonitorRequest.fromPartial(request), new Metadata(), deadline(), cb)).catch((e: ServiceError) => e)) as ServiceError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(message);
  });
});

describe.skipIf(nats.skip)("coordinators killed or stopped while they probe a monitor's run", () => {
  let server: NatsServer;
  /** Its greeting held back 300 ms: a run is still probing when its coordinator goes. */
  let slow: SmtpFixture;
  let coordinators: CoordinatorProcess[];
  let agent: AgentProcess;

  beforeAll(async () => {
    [server, slow] = await Promise.all([startNatsServer(), startSmtpFixture({ greetingDelayMs: 300 })]);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [slow.port] };
    const args = ["--monitor-min-interval", "1s", "--log-level", "info"]; // "probe accepted" says a run is probing
    coordinators = await Promise.all([0, 1, 2].map(() => startCoordinatorProcess({ nats: server.url, ...policy, extraArgs: args })));
    const probeApi = connectProbeApi(coordinators[0]!.address);
    try {
      agent = await startAgentProcess({ region: REGION, agentId: `${REGION}-1`, nats: server.url, readyVia: Promise.resolve(probeApi), ...policy });
    } finally {
      probeApi.close();
    }
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await stopAll([...(coordinators ?? []), agent]);
    await Promise.all([server?.stop(), slow?.stop()]);
  });

  it(
    "killed (SIGKILL): another takes the run over when its lease runs out; stopped (SIGTERM): it ends the run and keeps it, none takes it over; every run kept once, none missed",
    async () => {
      const clients = coordinators.map((c) => new MonitorClient(c.address, credentials.createInsecure()));
      const watches = clients.map(() => ({ events: [] as MonitorEvent[], stream: undefined as ReturnType<Client["watchMonitor"]> | undefined, error: undefined as ServiceError | undefined }));
      const accepted = (c: CoordinatorProcess): number => c.output().split("\n").filter((line) => line.includes('"msg":"probe accepted"')).length;
      const live = new Set([0, 1, 2]);
      /** The next run's probe accepted by one of the live coordinators: which one, and the run. */
      const nextProbing = async (): Promise<{ index: number; run: number }> => {
        const before = coordinators.map(accepted);
        let index = -1;
        await waitFor(() => (index = [...live].find((i) => accepted(coordinators[i]!) > before[i]!) ?? -1) >= 0, 10_000, "the next run probing");
        return { index, run: Number(watches[index]!.events.at(-1)!.run) + 1 };
      };
      const keptRun = (events: MonitorEvent[], run: number) => {
        const event = events.find((e) => Number(e.run) === run);
        return event && { complete: event.report?.complete, error: event.error };
      };
      try {
        const monitor = await unary<Monitor>((cb) =>
          clients[0]!.createMonitor(CreateMonitorRequest.fromPartial({ probe: { host: "127.0.0.1", ports: [slow.port], regions: [REGION] }, intervalSeconds: 2 }), new Metadata(), deadline(), cb),
        );
        clients.forEach((client, i) => {
          const stream = client.watchMonitor({ monitorId: monitor.monitorId, changesOnly: false, afterRun: 0, fromOldest: false }, new Metadata());
          stream.on("data", (event: MonitorEvent) => watches[i]!.events.push(event));
          stream.on("error", (error: ServiceError) => (watches[i]!.error = error));
          watches[i]!.stream = stream;
        });
        await waitFor(() => watches.every((w) => w.events.length >= 1), 15_000, "a first run, seen through all three");

        const killed = await nextProbing();
        await coordinators[killed.index]!.kill();
        live.delete(killed.index);
        const [one] = [...live];
        await waitFor(() => keptRun(watches[one!]!.events, killed.run) !== undefined, 10_000, `run ${killed.run}, taken over`);
        expect(keptRun(watches[one!]!.events, killed.run)).toEqual({ complete: true, error: "" });

        const stopped = await nextProbing();
        const other = [...live].find((i) => i !== stopped.index)!;
        const otherProbes = accepted(coordinators[other]!);
        const stopping = coordinators[stopped.index]!.stop(5_000); // SIGKILL after 5 s: half its grace
        live.delete(stopped.index);
        await waitFor(() => keptRun(watches[other]!.events, stopped.run) !== undefined, 10_000, `run ${stopped.run}, kept by the coordinator stopping`);
        expect(keptRun(watches[other]!.events, stopped.run)).toEqual({ complete: true, error: "" });
        expect(accepted(coordinators[other]!)).toBe(otherProbes); // not taken over: probed once
        await stopping;
        // Its exit not held by the watch open on it: that one was told at once to resume elsewhere.
        expect(await coordinators[stopped.index]!.exited).toEqual({ code: 0, signal: null });
        const { code, details } = watches[stopped.index]!.error ?? {};
        expect({ code, details }).toEqual({ code: status.UNAVAILABLE, details: expect.stringContaining("resume the watch") });

        const last = watches[other]!;
        await waitFor(() => last.events.some((e) => Number(e.run) >= stopped.run + 2), 15_000, () => `two runs after: ${last.events.map((e) => e.run).join(",")}`);
        const runs = last.events.map((e) => Number(e.run));
        expect(runs).toEqual(Array.from({ length: runs.length }, (_, i) => runs[0]! + i));
      } finally {
        for (const watch of watches) watch.stream?.cancel();
        for (const client of clients) client.close();
      }
    },
    90_000,
  );
});
