// Caller quotas, the coordinator-wide bound, duplicate joining and the audit log, end to end: an
// embedded coordinator (the real binary) with bearer tokens for several callers and small limits,
// targets on 127.0.0.1 of this test: a closed port (a probe ends at once) and a server that accepts
// and never speaks (a probe is held until its banner timeout, or until it is cancelled).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Outcome } from "../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type ProbeEvent } from "../../gen/smtpprobe/v1/probe_service.js";
import { statusDetailsOf } from "../../services/coordinator/grpc-errors.js";
import { freePort } from "../helpers/free-port.js";
import { callError, connectProbeApi, describeError, type ProbeApi, type ProbeRequestInput } from "../helpers/grpc-client.js";
import { START_HOOK_TIMEOUT_MS, startCoordinatorProcess, stopAll, type CoordinatorProcess } from "../helpers/processes.js";
import { startSilentServer, type SilentServer } from "../helpers/silent-server.js";
import { wellBefore } from "../helpers/timing.js";
import { delay } from "../helpers/wait.js";

const CALLERS = ["rate-bot", "polite", "holder", "other", "third", "dup", "cancel-bot"] as const;
type Caller = (typeof CALLERS)[number];
const tokenOf = (caller: Caller): string => `token-of-${caller}-0123456789abcdef`;

const PER_MINUTE = 6;
const CALLER_IN_FLIGHT = 4;
const MAX_IN_FLIGHT = 6;

let dir: string;
let coordinator: CoordinatorProcess;
let closedPort: number;
let hold: SilentServer;
const apis = new Map<Caller, ProbeApi>();
const api = (caller: Caller): ProbeApi => {
  let client = apis.get(caller);
  if (!client) {
    client = connectProbeApi(coordinator.address, { token: tokenOf(caller) });
    apis.set(caller, client);
  }
  return client;
};

/** Held until its banner timeout: `bannerMs` also makes requests distinct (no joining). */
const held = (bannerMs: number): ProbeRequestInput => ({
  host: "127.0.0.1",
  ports: [hold.port],
  regions: ["local"],
  options: { timeouts: { bannerMs, deadlineMs: bannerMs + 5_000 } },
});
const quick = (): ProbeRequestInput => ({ host: "127.0.0.1", ports: [closedPort], regions: ["local"] });
const isAccepted = (e: ProbeEvent): boolean => e.accepted !== undefined;

/** The audit lines the coordinator wrote so far. */
function auditLines(): Record<string, unknown>[] {
  return coordinator
    .output()
    .split("\n")
    .filter((line) => line.includes('"audit":true'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The coordinator's output reaches the test through a pipe: polls until the lines are there. */
async function auditLinesUntil(ok: (lines: Record<string, unknown>[]) => boolean, timeoutMs = 3_000): Promise<Record<string, unknown>[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const lines = auditLines();
    if (ok(lines) || Date.now() > until) return lines;
    await delay(20);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "smtp-probe-quota-"));
  await writeFile(join(dir, "tokens.txt"), CALLERS.map((c) => `${tokenOf(c)} ${c}`).join("\n"));
  hold = await startSilentServer();
  closedPort = await freePort();
  coordinator = await startCoordinatorProcess({
    allowCidrs: ["127.0.0.0/8"],
    allowPorts: [hold.port, closedPort],
    extraArgs: [
      "--auth-tokens",
      join(dir, "tokens.txt"),
      "--log-level",
      "info",
      "--caller-executions-per-minute",
      String(PER_MINUTE),
      "--caller-executions-in-flight",
      String(CALLER_IN_FLIGHT),
      "--max-executions-in-flight",
      String(MAX_IN_FLIGHT),
    ],
  });
}, START_HOOK_TIMEOUT_MS);

afterAll(async () => {
  for (const client of apis.values()) client.close();
  await stopAll([coordinator]);
  await hold?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("caller quotas (executions = regions × ports)", () => {
  it("a caller over its rate gets RESOURCE_EXHAUSTED within 50 ms, with RetryInfo and QuotaFailure; other callers are not slowed", { timeout: 30_000 }, async () => {
    // The polite caller's latency alone, first.
    const alone: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const t0 = performance.now();
      await api("polite").probe(quick());
      alone.push(performance.now() - t0);
    }
    for (let i = 0; i < PER_MINUTE; i += 1) await api("rate-bot").probe(quick());

    const refusedIn: number[] = [];
    let firstError: Awaited<ReturnType<typeof callError>> | undefined;
    for (let i = 0; i < 20; i += 1) {
      const t0 = performance.now();
      const error = await callError(api("rate-bot").probe(quick()));
      refusedIn.push(performance.now() - t0);
      expect(error.code, describeError(error)).toBe(status.RESOURCE_EXHAUSTED);
      firstError ??= error;
    }
    expect(median(refusedIn), `refused in ${refusedIn.map(Math.round).join(", ")} ms`).toBeLessThan(50);

    const error = firstError!;
    expect(error.details).toMatch(/^caller_executions_per_minute: caller rate-bot is over its limit of 6 probe executions per minute; this request needs 1 \(regions × ports\); retry after \d+ ms$/);
    const details = statusDetailsOf(error);
    // One token every 10 s: the next one is at most 10 s away.
    expect(details.retryAfterMs).toBeGreaterThan(0);
    expect(details.retryAfterMs).toBeLessThanOrEqual(60_000 / PER_MINUTE);
    expect(details.quotaViolations).toEqual([{ subject: "caller:rate-bot", description: error.details }]);
    expect(details.errorInfo).toMatchObject({ reason: "QUOTA_EXCEEDED", domain: "smtp-probe", metadata: { limit: "caller_executions_per_minute" } });

    // The refused caller hammers the coordinator; the polite one is served as before.
    let hammering = true;
    const hammer = (async () => {
      let refused = 0;
      // Bursts of 20 refused calls every 50 ms (~400 calls/s): what is measured is that a refused
      // caller takes nothing from the others, not how a 2-core machine shares its CPU with a
      // client in this same process spinning as fast as it can.
      while (hammering) {
        await Promise.all([...Array.from({ length: 20 }, () => api("rate-bot").probe(quick()).catch(() => (refused += 1))), delay(50)]);
      }
      return refused;
    })();
    const during: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const t0 = performance.now();
      const report = await api("polite").probe(quick());
      during.push(performance.now() - t0);
      expect(report.tasks[0]?.status).toBe(TaskStatus.TASK_STATUS_DONE);
    }
    hammering = false;
    expect(await hammer).toBeGreaterThan(0);
    expect(median(during), `alone ${alone.map(Math.round).join(", ")} ms; during ${during.map(Math.round).join(", ")} ms`).toBeLessThan(median(alone) * 3 + 250);

    // The refusal is in the audit log, with the caller, the reason and the code.
    const rateBot = (lines: Record<string, unknown>[]): boolean => lines.some((l) => l.caller === "rate-bot" && l.event === "denied");
    expect(await auditLinesUntil(rateBot)).toContainEqual(
      expect.objectContaining({ msg: "audit", event: "denied", caller: "rate-bot", reason: "caller_quota", code: "RESOURCE_EXHAUSTED" }),
    );
  });

  it("in flight: per caller, then for every caller together; room again once probes end", { timeout: 30_000 }, async () => {
    const streams = [0, 1, 2, 3].map((i) => api("holder").streamProbe(held(20_000 + i), { deadlineMs: 30_000 }));
    await Promise.all(streams.map((s) => s.next(isAccepted, 5_000)));

    // Refused, not queued until a held probe ends or the call's deadline passes.
    const callDeadlineMs = 10_000;
    const t0 = performance.now();
    const own = await callError(api("holder").probe(held(20_100), { deadlineMs: callDeadlineMs }));
    expect(performance.now() - t0).toBeLessThan(wellBefore(callDeadlineMs));
    expect(own.code, describeError(own)).toBe(status.RESOURCE_EXHAUSTED);
    expect(own.details).toContain("caller_executions_in_flight: caller holder is at its limit of 4 probe executions in flight");
    expect(statusDetailsOf(own).retryAfterMs).toBeLessThanOrEqual(1000);

    // Another caller takes the last two executions of the coordinator; a third is refused by the
    // coordinator-wide bound (QuotaFailure subject "coordinator"), at once, never queued.
    const others = [0, 1].map((i) => api("other").streamProbe(held(20_200 + i), { deadlineMs: 30_000 }));
    await Promise.all(others.map((s) => s.next(isAccepted, 5_000)));
    const t1 = performance.now();
    const shed = await callError(api("third").probe(quick(), { deadlineMs: callDeadlineMs }));
    expect(performance.now() - t1).toBeLessThan(wellBefore(callDeadlineMs));
    expect(shed.code, describeError(shed)).toBe(status.RESOURCE_EXHAUSTED);
    expect(shed.details).toContain("max_executions_in_flight: the coordinator is at its bound of 6 probe executions in flight");
    expect(statusDetailsOf(shed).quotaViolations[0]?.subject).toBe("coordinator");
    expect(statusDetailsOf(shed).retryAfterMs).toBeGreaterThan(0);

    // Cancelled probes give their executions back.
    for (const s of [...streams, ...others]) s.call.cancel();
    await Promise.all([...streams, ...others].map((s) => s.done));
    const until = Date.now() + 5_000;
    for (;;) {
      try {
        await api("third").probe(quick());
        break;
      } catch (error) {
        if (Date.now() > until) throw error;
        await delay(50);
      }
    }
  });

  it("a request larger than a limit is refused without RetryInfo (retrying cannot help)", async () => {
    const error = await callError(api("third").probe({ ...quick(), ports: [closedPort, hold.port], regions: ["local", "a", "b"] }));
    expect(error.code, describeError(error)).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.details).toContain("the request needs 6 probe executions (regions × ports), more than the limit of 4; split it");
    expect(statusDetailsOf(error).retryAfterMs).toBeUndefined();
  });
});

describe("duplicate requests of one caller join the running probe", () => {
  it("same report, events from the join on, counted once against the quota", { timeout: 30_000 }, async () => {
    const request = held(1_500);
    const first = api("dup").streamProbe(request, { deadlineMs: 20_000 });
    const accepted = await first.next(isAccepted, 5_000);
    // 6 more: the quota (6 a minute, 4 in flight) could not admit them if they counted.
    const joinedStream = api("dup").streamProbe({ ...request, idempotencyKey: "dup-key-1" }, { deadlineMs: 20_000 });
    const joinedUnary = Array.from({ length: 5 }, () => api("dup").probe(request, { deadlineMs: 20_000 }));
    const [firstDone, joinedDone, ...unary] = await Promise.all([first.done, joinedStream.done, ...joinedUnary]);
    expect(firstDone.error, describeError(firstDone.error)).toBeUndefined();
    expect(joinedDone.error, describeError(joinedDone.error)).toBeUndefined();
    const probeId = accepted.accepted?.probeId;
    expect(joinedDone.events[0]?.accepted?.probeId).toBe(probeId);
    expect(joinedDone.events.at(-1)?.report?.probeId).toBe(probeId);
    for (const report of unary) expect(report.probeId).toBe(probeId);
    expect(hold.accepted()).toBeGreaterThan(0);
    // One probe ran: one audit line, which counts the joined calls.
    const ofProbe = (all: Record<string, unknown>[]): Record<string, unknown>[] => all.filter((l) => l.event === "probe" && l.probeId === probeId);
    const lines = ofProbe(await auditLinesUntil((all) => ofProbe(all).length > 0));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ caller: "dup", host: "127.0.0.1", mx: false, regions: ["local"], ports: [hold.port], joined: 6, complete: true });
    expect(lines[0]?.addresses).toEqual(["127.0.0.1"]);
    expect(lines[0]?.verdict).toEqual([expect.objectContaining({ port: hold.port, kind: expect.any(String) })]);
    expect(lines[0]?.durationMs).toEqual(expect.any(Number));
    // A joiner's idempotency key names the probe it joined.
    expect((await api("dup").probe({ ...request, idempotencyKey: "dup-key-1" })).probeId).toBe(probeId);
    // Once it has ended, the same request is a new probe.
    const again = await api("dup").probe(request, { deadlineMs: 20_000 });
    expect(again.probeId).not.toBe(probeId);
  });

  it("cancelling one joined caller does not cancel the probe for the other; cancelling both does", { timeout: 30_000 }, async () => {
    const request = held(2_000);
    const a = api("cancel-bot").streamProbe(request, { deadlineMs: 20_000 });
    await a.next(isAccepted, 5_000);
    const b = api("cancel-bot").streamProbe(request, { deadlineMs: 20_000 });
    await b.next(isAccepted, 5_000);
    a.call.cancel();
    const ended = await b.done;
    expect(ended.error, describeError(ended.error)).toBeUndefined();
    const task = ended.events.at(-1)?.report?.tasks[0];
    // Held until the banner timeout: the probe ran to its end, it was not cancelled.
    expect(task?.status).toBe(TaskStatus.TASK_STATUS_DONE);
    expect(task?.result?.handshakes[0]?.outcome).toBe(Outcome.OUTCOME_NO_BANNER);

    const c = api("cancel-bot").streamProbe(held(20_000), { deadlineMs: 30_000 });
    await c.next(isAccepted, 5_000);
    const d = api("cancel-bot").streamProbe(held(20_000), { deadlineMs: 30_000 });
    await d.next(isAccepted, 5_000);
    const connectedBy = Date.now() + 5_000;
    while (hold.open() === 0 && Date.now() < connectedBy) await delay(20);
    const connected = hold.open();
    expect(connected).toBeGreaterThan(0);
    c.call.cancel();
    d.call.cancel();
    // Nobody waits any more: the agent closes its connection to the target.
    const until = Date.now() + 5_000;
    while (hold.open() >= connected && Date.now() < until) await delay(20);
    expect(hold.open()).toBeLessThan(connected);
  });
});

describe("audit log", () => {
  it("one line per unauthenticated call, with the reason and the peer, never the token", async () => {
    const stranger = connectProbeApi(coordinator.address, { token: "not-a-known-token-0123456789" });
    try {
      const error = await callError(stranger.probe(quick()));
      expect(error.code).toBe(status.UNAUTHENTICATED);
    } finally {
      stranger.close();
    }
    const unauthenticated = (all: Record<string, unknown>[]): Record<string, unknown>[] => all.filter((l) => l.event === "denied" && l.reason === "unauthenticated");
    const denied = unauthenticated(await auditLinesUntil((all) => unauthenticated(all).length > 0));
    expect(denied).toContainEqual(expect.objectContaining({ code: "UNAUTHENTICATED", method: "/smtpprobe.v1.ProbeService/Probe", peer: expect.stringContaining("127.0.0.1") }));
    expect(coordinator.output()).not.toContain("not-a-known-token");
  });

  it("refusals of bad requests are audited too (INVALID_ARGUMENT, PERMISSION_DENIED)", async () => {
    await callError(api("polite").probe({ ...quick(), ports: [0] }));
    await callError(api("polite").probe({ ...quick(), ports: [2] }));
    const polite = (lines: Record<string, unknown>[]): Record<string, unknown>[] => lines.filter((l) => l.event === "denied" && l.caller === "polite");
    const reasons = polite(await auditLinesUntil((lines) => polite(lines).length >= 2))
      .filter((l) => l.event === "denied" && l.caller === "polite")
      .map((l) => `${String(l.reason)} ${String(l.code)}`);
    expect(reasons).toEqual(expect.arrayContaining(["invalid_argument INVALID_ARGUMENT", "permission_denied PERMISSION_DENIED"]));
  });
});
