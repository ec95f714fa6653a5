// Graceful shutdown end to end: an embedded coordinator (the real binary, --grace 2s) gets SIGTERM
// while probes run against a server of this test on 127.0.0.1 that accepts and never speaks.
// Health goes NOT_SERVING first (a Watch stream sees it), new calls are refused, a probe that ends
// within the grace period gets its report, and the ones that cannot get UNAVAILABLE when it is over
// (not CANCELLED, not INTERNAL); then the process exits 0.
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type ChannelCredentials,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import type { ServiceDefinition } from "@grpc/proto-loader";
import { service as healthServiceDefinition } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProbeEvent, ProbeReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { freePort } from "../helpers/free-port.js";
import { connectProbeApi, describeError, type ProbeApi, type ProbeRequestInput } from "../helpers/grpc-client.js";
import { START_HOOK_TIMEOUT_MS, startCoordinatorProcess, stopAll, type CoordinatorProcess } from "../helpers/processes.js";
import { startSilentServer, type SilentServer } from "../helpers/silent-server.js";
import { CROSS_PROCESS_SLACK_MS, endsBy, notBefore, wellBefore } from "../helpers/timing.js";
import { delay } from "../helpers/wait.js";

const GRACE_MS = 2_000;

interface HealthWatchClient {
  watch(request: { service: string }, metadata: Metadata): ClientReadableStream<{ status: string }>;
  close(): void;
}
const HealthClient = makeGenericClientConstructor(healthServiceDefinition as unknown as ServiceDefinition, "grpc.health.v1.Health") as unknown as new (
  address: string,
  creds: ChannelCredentials,
) => HealthWatchClient;

let coordinator: CoordinatorProcess;
let hold: SilentServer;
let closedPort: number;
const clients: { close(): void }[] = [];

const held = (bannerMs: number): ProbeRequestInput => ({
  host: "127.0.0.1",
  ports: [hold.port],
  regions: ["local"],
  options: { timeouts: { bannerMs, deadlineMs: bannerMs + 5_000 } },
});

beforeAll(async () => {
  hold = await startSilentServer();
  closedPort = await freePort();
  coordinator = await startCoordinatorProcess({
    allowCidrs: ["127.0.0.0/8"],
    allowPorts: [hold.port, closedPort],
    extraArgs: ["--grace", `${GRACE_MS}ms`, "--log-level", "info"],
  });
}, START_HOOK_TIMEOUT_MS);

afterAll(async () => {
  for (const c of clients) c.close();
  await stopAll([coordinator]);
  await hold?.stop();
});

describe("graceful shutdown (SIGTERM, --grace 2s)", () => {
  it("NOT_SERVING first, new calls refused, a short probe gets its report, long ones UNAVAILABLE at the end of the grace period", { timeout: 30_000 }, async () => {
    const api: ProbeApi = connectProbeApi(coordinator.address);
    clients.push(api);
    const health = new HealthClient(coordinator.address, credentials.createInsecure());
    clients.push(health);

    // A health watcher, as a load balancer keeps one.
    const healthSeen: { status: string; at: number }[] = [];
    const watch = health.watch({ service: "" }, new Metadata());
    watch.on("data", (m: { status: string }) => healthSeen.push({ status: m.status, at: performance.now() }));
    watch.on("error", () => undefined);
    const watchingBy = Date.now() + 5_000;
    while (!healthSeen.some((h) => h.status === "SERVING") && Date.now() < watchingBy) await delay(20);
    expect(healthSeen.map((h) => h.status)).toContain("SERVING");

    // Three probes held by the silent server: one ends after 1 s (its banner timeout), within the
    // grace period; two (a stream and a unary call) would take 20 s.
    const short = api.streamProbe(held(1_000), { deadlineMs: 20_000 });
    const longStream = api.streamProbe(held(20_000), { deadlineMs: 30_000 });
    const longUnary = api.probe(held(20_001), { deadlineMs: 30_000 }).then(
      (report: ProbeReport) => ({ report, error: undefined as ServiceError | undefined, at: performance.now() }),
      (error: ServiceError) => ({ report: undefined, error, at: performance.now() }),
    );
    const accepted = (e: ProbeEvent): boolean => e.accepted !== undefined;
    await Promise.all([short.next(accepted), longStream.next(accepted)]);
    const connectedBy = Date.now() + 5_000;
    while (hold.open() < 3 && Date.now() < connectedBy) await delay(20);
    expect(hold.open()).toBe(3);

    const stopAt = performance.now();
    process.kill(coordinator.pid, "SIGTERM");

    // New calls are refused at once: on a new connection, and on the one already open.
    await delay(200);
    const fresh = connectProbeApi(coordinator.address);
    clients.push(fresh);
    const refusedNew = await fresh.probe({ host: "127.0.0.1", ports: [closedPort], regions: ["local"] }, { deadlineMs: 3_000 }).then(
      () => undefined,
      (error: ServiceError) => error,
    );
    expect(refusedNew?.code, describeError(refusedNew)).toBe(status.UNAVAILABLE);
    const refusedOld = await api.probe({ host: "127.0.0.1", ports: [closedPort], regions: ["local"] }, { deadlineMs: 3_000 }).then(
      () => undefined,
      (error: ServiceError) => error,
    );
    expect(refusedOld?.code, describeError(refusedOld)).toBe(status.UNAVAILABLE);

    // The short probe finishes within the grace period, with its report.
    const shortDone = await short.done;
    const shortAt = performance.now();
    expect(shortDone.error, describeError(shortDone.error)).toBeUndefined();
    expect(shortDone.events.at(-1)?.report?.tasks).toHaveLength(1);
    expect(shortAt - stopAt).toBeLessThan(GRACE_MS);

    // Health said NOT_SERVING before anything else happened.
    const notServing = healthSeen.find((h) => h.status === "NOT_SERVING");
    expect(notServing, JSON.stringify(healthSeen)).toBeDefined();
    expect(notServing!.at - stopAt).toBeLessThan(wellBefore(GRACE_MS));
    expect(notServing!.at).toBeLessThan(shortAt);

    // The long ones: UNAVAILABLE once the grace period is over (not CANCELLED, not INTERNAL).
    const [streamDone, unaryDone] = await Promise.all([longStream.done.then((d) => ({ ...d, at: performance.now() })), longUnary]);
    for (const [what, ended] of [
      ["StreamProbe", streamDone],
      ["Probe", unaryDone],
    ] as const) {
      expect(ended.error?.code, `${what}: ${describeError(ended.error)}\n${coordinator.output().slice(-3000)}`).toBe(status.UNAVAILABLE);
      expect(ended.error?.details).toContain("shutting down");
      expect(ended.at - stopAt, what).toBeGreaterThanOrEqual(notBefore(GRACE_MS));
      expect(ended.at - stopAt, what).toBeLessThan(endsBy(GRACE_MS, CROSS_PROCESS_SLACK_MS));
    }

    const exit = await coordinator.exited;
    expect(exit.code, coordinator.output().slice(-3000)).toBe(0);
    // The agents' work was cancelled: the silent server's connections are closed.
    const closedBy = Date.now() + 3_000;
    while (hold.open() > 0 && Date.now() < closedBy) await delay(20);
    expect(hold.open()).toBe(0);
  });
});
