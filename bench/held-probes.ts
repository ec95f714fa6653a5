// Memory of probes held open by a server that never answers, measured in a fresh process of its
// own (forked with --expose-gc) so that nothing the latency runs left on the heap hides or adds to
// it. Steps, driven by the parent over IPC:
//   1. warm up (a few probes opened and aborted), collect garbage, read the baseline RSS;
//   2. open `count` probes against the silent server, wait until every one is connected and
//      waiting for its banner, sample RSS for a while, report ("held");
//   3. on "abort" from the parent (which has checked the server side), abort every probe through
//      its AbortSignal, wait for all to return, report their outcomes ("done") and exit.
import { Outcome, Phase } from "../gen/smtpprobe/v1/handshake.js";
import { runHandshake } from "../agents/smtp/handshake.js";
import { engineOptions, EHLO_NAME } from "./clients.js";
import { minimalHandshake } from "./minimal-handshake.js";
import { HelperTimeoutError, waitFor } from "../test/helpers/wait.js";

export interface HeldProbesConfig {
  client: "engine" | "minimal";
  port: number;
  count: number;
  /** How long RSS is sampled once every probe is connected. */
  holdMs: number;
}

export interface MemoryReading {
  rssKb: number;
  heapUsedKb: number;
  externalKb: number;
}

export type HeldProbesMessage =
  | {
      type: "held";
      connected: number;
      connectMs: number;
      before: MemoryReading;
      /** Highest RSS sampled while all probes were held (no forced GC). */
      heldPeak: MemoryReading;
      /** After a forced GC, probes still held: what they retain. */
      heldAfterGc: MemoryReading;
      /** getrusage max RSS of this process so far. */
      maxRssKb: number;
    }
  | { type: "done"; outcomes: Record<string, number>; settleMs: number; maxRssKb: number }
  | { type: "failed"; error: string };

export type HeldProbesRequest = { type: "abort" };

const MAX_LIFETIME_MS = 120_000;
const CONNECT_WAIT_MS = 30_000;

function reading(): MemoryReading {
  const m = process.memoryUsage();
  return { rssKb: Math.round(m.rss / 1024), heapUsedKb: Math.round(m.heapUsed / 1024), externalKb: Math.round(m.external / 1024) };
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Held {
  controllers: AbortController[];
  settled: Promise<string[]>;
  connected: () => number;
}

/** Starts `count` probes; each resolves to an outcome name once it ends. */
function open(config: HeldProbesConfig, count: number): Held {
  let connected = 0;
  const controllers: AbortController[] = [];
  const runs: Promise<string>[] = [];
  if (config.client === "engine") {
    // A banner timeout far beyond the hold: only the abort ends these probes.
    const options = engineOptions(config.port, { bannerMs: 100_000, deadlineMs: 110_000 });
    for (let i = 0; i < count; i += 1) {
      const controller = new AbortController();
      controllers.push(controller);
      runs.push(
        runHandshake(
          { host: "localhost", address: "127.0.0.1", port: config.port },
          options,
          {
            signal: controller.signal,
            // The banner phase begins once the TCP connection is up.
            onProgress: (progress) => {
              if (progress.phase === Phase.PHASE_BANNER) connected += 1;
            },
          },
        ).then((result) => Outcome[result.outcome].replace(/^OUTCOME_/, "")),
      );
    }
  } else {
    for (let i = 0; i < count; i += 1) {
      const controller = new AbortController();
      controllers.push(controller);
      runs.push(
        minimalHandshake(
          { servername: "localhost", address: "127.0.0.1", port: config.port },
          {
            ehloName: EHLO_NAME,
            noDelay: true,
            timeoutMs: 110_000,
            signal: controller.signal,
            onConnect: () => {
              connected += 1;
            },
          },
        ).then(
          () => "completed",
          (error: unknown) => (error instanceof Error && error.message === "aborted" ? "CANCELLED" : `failed: ${String(error)}`),
        ),
      );
    }
  }
  return { controllers, settled: Promise.all(runs), connected: () => connected };
}

/** Waits up to timeoutMs for `predicate`, polling every 10 ms; a timeout is not an error here. */
async function waitUpTo(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  await waitFor(predicate, timeoutMs, what, 10).catch((error: unknown) => {
    if (!(error instanceof HelperTimeoutError)) throw error;
  });
}

function countOutcomes(outcomes: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as HeldProbesConfig;
  const send = (message: HeldProbesMessage): void => {
    process.send?.(message);
  };
  setTimeout(() => process.exit(3), MAX_LIFETIME_MS).unref();
  process.on("disconnect", () => process.exit(0));
  const abortRequested = new Promise<void>((resolve) => {
    process.on("message", (request: HeldProbesRequest) => {
      if (request.type === "abort") resolve();
    });
  });

  // Warm-up: the code paths of opening, holding and aborting run once before the baseline.
  const warm = open(config, 20);
  await waitUpTo(() => warm.connected() === 20, CONNECT_WAIT_MS, "the warm-up probes connected");
  for (const controller of warm.controllers) controller.abort();
  await warm.settled;
  await sleep(200);
  collectGarbage();
  await sleep(100);
  const before = reading();

  const began = performance.now();
  const held = open(config, config.count);
  // The parent sees it in `connected` when not every probe got through.
  await waitUpTo(() => held.connected() === config.count, CONNECT_WAIT_MS, "every held probe connected");
  const connectMs = performance.now() - began;
  let heldPeak = reading();
  const sampleUntil = performance.now() + config.holdMs;
  while (performance.now() < sampleUntil) {
    await sleep(25);
    const now = reading();
    if (now.rssKb > heldPeak.rssKb) heldPeak = now;
  }
  collectGarbage();
  await sleep(50);
  const heldAfterGc = reading();
  send({
    type: "held",
    connected: held.connected(),
    connectMs,
    before,
    heldPeak,
    heldAfterGc,
    maxRssKb: process.resourceUsage().maxRSS,
  });

  await abortRequested;
  const abortedAt = performance.now();
  for (const controller of held.controllers) controller.abort();
  const outcomes = await held.settled;
  send({
    type: "done",
    outcomes: countOutcomes(outcomes),
    settleMs: performance.now() - abortedAt,
    maxRssKb: process.resourceUsage().maxRSS,
  });
  process.disconnect?.();
}

main().catch((error: unknown) => {
  process.send?.({ type: "failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
