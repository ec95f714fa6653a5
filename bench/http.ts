// `npm run bench:http` (also the last part of `npm run bench`): what the HTTP side of the
// coordinator costs. An embedded coordinator in this process, its gRPC port and its HTTP listener
// on 127.0.0.1; the same probe (a closed port: the service's own path, no handshake to wait for)
// asked over gRPC (Probe) and over HTTP/JSON (POST /v1/probes), interleaved, sequential; the page's
// weight as served (brotli and gzip); and its first render in Chromium (cold profile each time:
// navigation start to first contentful paint), when /usr/bin/chromium is there.
// Goals: HTTP/JSON adds ≤ 1 ms at p50 over gRPC; the page and all it loads ≤ 100 KB compressed;
// first render ≤ 300 ms on loopback. Writes bench/results/http-<timestamp>.json.
import { loadavg } from "node:os";
import type { Page } from "playwright-core";
import { silentLogger } from "../lib/logger.js";
import { startCoordinator } from "../services/coordinator/coordinator.js";
import { chromiumAvailable, launchBrowser } from "../test/helpers/browser.js";
import { testCoordinatorConfig } from "../test/helpers/coordinator-config.js";
import { freePort } from "../test/helpers/free-port.js";
import { connectProbeApi } from "../test/helpers/grpc-client.js";
import { fetchHttp, postJson } from "../test/helpers/http-client.js";
import { layoutTable, writeJson } from "./report.js";
import { summarize, type Summary } from "./stats.js";

const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 300);
const WARMUP = 30;
const RENDERS = 7;
const PAGE_FILES = ["/", "/assets/app.js", "/assets/style.css", "/assets/icon.svg"];
/** The page's first contentful paint, from navigation start (ms): once the browser has recorded it. */
const FIRST_PAINT = `new Promise((resolve) => {
  const entry = () => performance.getEntriesByName("first-contentful-paint")[0];
  if (entry()) return resolve(entry().startTime);
  new PerformanceObserver(() => entry() && resolve(entry().startTime)).observe({ type: "paint", buffered: true });
})`;
const GOALS = { addedP50Ms: 1, pageKiB: 100, firstRenderMs: 300 };

const watchdog = setTimeout(() => {
  console.error("bench:http: still running after 180 s; stopping");
  process.exit(1);
}, 180_000);
watchdog.unref();

const startedAt = new Date();
const closedPort = await freePort();
const coordinator = await startCoordinator(testCoordinatorConfig([closedPort], { http: { host: "127.0.0.1", port: 0 } }), silentLogger());
const base = `http://127.0.0.1:${coordinator.http!.port}`;
const grpc = connectProbeApi(`127.0.0.1:${coordinator.port}`);
const request = { host: "127.0.0.1", ports: [closedPort], regions: ["local"] };

async function overGrpc(): Promise<number> {
  const t = performance.now();
  const report = await grpc.probe(request);
  const ms = performance.now() - t;
  if (report.tasks.length !== 1) throw new Error("gRPC: no task in the report");
  return ms;
}

async function overHttp(): Promise<number> {
  const t = performance.now();
  const answer = await postJson(`${base}/v1/probes`, request);
  const ms = performance.now() - t;
  if (answer.status !== 200) throw new Error(`HTTP: ${answer.status} ${answer.text.slice(0, 200)}`);
  return ms;
}

// Interleaved (A B B A), so that a drift of the machine's load falls on both alike.
const samples = { grpc: [] as number[], http: [] as number[] };
for (let i = 0; i < WARMUP; i++) await Promise.all([overGrpc(), overHttp()]);
for (let i = 0; i < ROUNDS; i++) {
  if (i % 2 === 0) {
    samples.grpc.push(await overGrpc());
    samples.http.push(await overHttp());
  } else {
    samples.http.push(await overHttp());
    samples.grpc.push(await overGrpc());
  }
}
const grpcSummary = summarize(samples.grpc);
const httpSummary = summarize(samples.http);
const addedP50Ms = httpSummary.p50 - grpcSummary.p50;

const weights: { path: string; identity: number; br: number; gzip: number }[] = [];
for (const path of PAGE_FILES) {
  // The bytes on the wire: the content-length of the encoding served.
  const size = async (encoding: string): Promise<number> => Number((await fetchHttp(`${base}${path}`, { headers: { "accept-encoding": encoding } })).headers["content-length"]);
  weights.push({ path, identity: await size("identity"), br: await size("br"), gzip: await size("gzip") });
}
const total = { br: weights.reduce((s, w) => s + w.br, 0), gzip: weights.reduce((s, w) => s + w.gzip, 0), identity: weights.reduce((s, w) => s + w.identity, 0) };

/**
 * First contentful paint of `/`, three ways: a first visit to a running browser (a new tab, the
 * browser's cache cleared first: the page's own first render, the goal); a return visit (reloads in
 * one tab: revalidated, 304); and a first visit in a new browser with a new profile each time,
 * which adds Chromium's own start of a renderer, its fonts and its GPU process (shown, not a goal).
 */
let firstRender: { cold: Summary; warm: Summary; newBrowser: Summary } | undefined;
let renderSkipped: string | undefined = chromiumAvailable();
if (!renderSkipped) {
  const cold: number[] = [];
  const warm: number[] = [];
  const newBrowser: number[] = [];
  // A string, not a function: tsx's transform would put helpers into a function's text.
  const paintOf = async (page: Page): Promise<number> => Number(await page.evaluate(FIRST_PAINT));
  const browser = await launchBrowser();
  try {
    // One visit first, so that the renderer and fonts the browser starts once are not counted.
    const first = await browser.context.newPage();
    await first.goto(`${base}/`, { waitUntil: "load" });
    for (let j = 0; j < RENDERS; j++) {
      await first.reload({ waitUntil: "load" });
      warm.push(await paintOf(first));
    }
    for (let i = 0; i < RENDERS; i++) {
      const page = await browser.context.newPage();
      const cdp = await browser.context.newCDPSession(page);
      await cdp.send("Network.clearBrowserCache");
      await page.goto(`${base}/`, { waitUntil: "load" });
      cold.push(await paintOf(page));
      await page.close();
    }
  } finally {
    await browser.close();
  }
  for (let i = 0; i < RENDERS; i++) {
    const fresh = await launchBrowser();
    try {
      const page = await fresh.context.newPage();
      await page.goto(`${base}/`, { waitUntil: "load" });
      newBrowser.push(await paintOf(page));
    } finally {
      await fresh.close();
    }
  }
  firstRender = { cold: summarize(cold), warm: summarize(warm), newBrowser: summarize(newBrowser) };
} else {
  renderSkipped = `skipped: ${renderSkipped}`;
}

grpc.close();
await coordinator.stop(1_000);

const fmt = (ms: number): string => ms.toFixed(2);
const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
console.log(`\nbench:http — ${ROUNDS} probes each way, interleaved; load average ${loadavg()[0]?.toFixed(2)}\n`);
console.log(
  layoutTable(
    ["metric", "gRPC", "HTTP/JSON", "goal"],
    [
      ["probe latency p50 (ms)", fmt(grpcSummary.p50), fmt(httpSummary.p50), ""],
      ["probe latency p90 (ms)", fmt(grpcSummary.p90), fmt(httpSummary.p90), ""],
      ["added by HTTP/JSON at p50 (ms)", "", fmt(addedP50Ms), `≤ ${GOALS.addedP50Ms}`],
    ],
  ),
);
console.log("");
console.log(
  layoutTable(
    ["page file", "bytes", "brotli", "gzip"],
    [...weights.map((w) => [w.path, String(w.identity), String(w.br), String(w.gzip)]), ["all (KiB)", kib(total.identity), kib(total.br), kib(total.gzip)]],
  ),
);
console.log(`\npage weight, compressed: ${kib(total.br)} KiB brotli, ${kib(total.gzip)} KiB gzip (goal ≤ ${GOALS.pageKiB})`);
console.log(
  firstRender
    ? [
        `first contentful paint (goal ≤ ${GOALS.firstRenderMs} ms, first and return visit):`,
        `  first visit, cache empty, p50 ${fmt(firstRender.cold.p50)} ms (max ${fmt(firstRender.cold.max)})`,
        `  return visit (304s), p50 ${fmt(firstRender.warm.p50)} ms (max ${fmt(firstRender.warm.max)})`,
        `  first visit in a new browser with a new profile (Chromium's own start included, no goal), p50 ${fmt(firstRender.newBrowser.p50)} ms (max ${fmt(firstRender.newBrowser.max)})`,
      ].join("\n")
    : `first render: ${renderSkipped}`,
);

const met = addedP50Ms <= GOALS.addedP50Ms && total.gzip / 1024 <= GOALS.pageKiB && (!firstRender || Math.max(firstRender.cold.p50, firstRender.warm.p50) <= GOALS.firstRenderMs);
const file = await writeJson(startedAt, { rounds: ROUNDS, grpc: grpcSummary, http: httpSummary, addedP50Ms, weights, total, firstRender, renderSkipped, goals: GOALS, met, loadavg: loadavg() }, "http");
console.log(`\n${met ? "every goal met" : "a goal missed"}; written to ${file}`);
