// `npm run bench`, domain-check section (also `npm run bench:domain`): the domain check of one
// domain (MX with two exchangers and three addresses, SPF with an include, DMARC with an external
// report address, two DKIM selectors, reverse DNS and two blocklists per address) against the
// tests' DNS server on 127.0.0.1, every answer delayed by DELAY_MS as a resolver some way off
// would be. Per run: the questions the server received, any asked twice, and the wall time, cold
// (a new resolver) and warm (the same resolver again). Baselines from the same run: the sum (each
// question in turn, DELAY_MS each) and the check's longest chain of questions that wait for one
// another. Only 127.0.0.1 is contacted; a watchdog ends the run after WATCHDOG_MS.
import { cpus, loadavg } from "node:os";
import { AgentResolver } from "../agents/dns/agent-resolver.js";
import { checkDomain } from "../agents/posture/domain-check.js";
import { startDnsServer } from "../test/helpers/dns-server.js";
import { postureZone } from "../test/fixtures/posture/zone.js";
import { layoutTable, machineEnvironment, writeJson } from "./report.js";
import { summarize } from "./stats.js";

const WATCHDOG_MS = 3 * 60_000;
const RUNS = 9;
const DELAY_MS = 20;
/**
 * The longest chain of questions that each wait for the one before, for this domain: MX, an
 * exchanger's A, its PTR, the PTR name's A (forward confirmation); or a listed address's blocklist
 * A, then its TXT. SPF's own chain (the record, its include) runs beside it.
 */
const LONGEST_CHAIN = 4;
const INPUT = {
  domain: "good.test",
  dkimSelectors: ["s2048", "s1024"],
  commonDkimSelectors: false,
  region: "bench",
  blocklistZones: ["bl.test", "refusing.test"],
};

const log = (message: string): void => void process.stderr.write(`[bench:domain] ${message}\n`);

interface Run {
  questions: number;
  duplicates: number;
  wallMs: number;
  sessionSent: number;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const watchdog = setTimeout(() => {
    log(`watchdog: still running after ${WATCHDOG_MS / 1000} s, stopping`);
    process.exit(3);
  }, WATCHDOG_MS);
  watchdog.unref();
  const dns = await startDnsServer(postureZone(), { delayMs: DELAY_MS });
  log(`DNS server on ${dns.server}, answers delayed ${DELAY_MS} ms; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} on ${cpus().length} CPUs`);
  const cold: Run[] = [];
  const warm: Run[] = [];
  try {
    const once = async (resolver: AgentResolver): Promise<Run> => {
      const before = dns.queries().length;
      const started = performance.now();
      const posture = await checkDomain(INPUT, resolver);
      const wallMs = performance.now() - started;
      const asked = dns.queries().slice(before).map((q) => `${q.type} ${q.name}`);
      return { questions: asked.length, duplicates: asked.length - new Set(asked).size, wallMs, sessionSent: posture.dns?.queriesSent ?? 0 };
    };
    for (let i = 0; i < RUNS; i += 1) {
      const resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 1_000 });
      cold.push(await once(resolver));
      warm.push(await once(resolver));
    }
  } finally {
    await dns.stop();
  }
  const median = (values: number[]): number => summarize(values).p50;
  const coldWall = median(cold.map((r) => r.wallMs));
  const warmWall = median(warm.map((r) => r.wallMs));
  const questions = median(cold.map((r) => r.questions));
  const sumMs = questions * DELAY_MS;
  const chainMs = LONGEST_CHAIN * DELAY_MS;
  const duplicates = Math.max(...cold.map((r) => r.duplicates), ...warm.map((r) => r.duplicates));
  const warmQuestions = Math.max(...warm.map((r) => r.questions));
  const goals = [
    { goal: "no question twice within a check", ok: duplicates === 0 },
    { goal: "a warm check sends no question", ok: warmQuestions === 0 },
    { goal: `a cold check within the longest chain (${LONGEST_CHAIN} × ${DELAY_MS} ms) plus ${DELAY_MS * 2} ms, not the sum`, ok: coldWall <= chainMs + DELAY_MS * 2 },
  ];
  const rows = [
    ["questions sent, cold", String(questions), "—", "—"],
    ["questions sent, warm", String(warmQuestions), "—", "—"],
    ["questions asked twice in a check", String(duplicates), "—", "—"],
    ["wall time, cold (p50)", `${coldWall.toFixed(1)} ms`, `sum ${sumMs} ms`, `${(coldWall / sumMs).toFixed(2)}×`],
    ["wall time, cold (p50)", `${coldWall.toFixed(1)} ms`, `chain ${chainMs} ms`, `${(coldWall / chainMs).toFixed(2)}×`],
    ["wall time, warm (p50)", `${warmWall.toFixed(2)} ms`, `cold ${coldWall.toFixed(1)} ms`, `${(warmWall / coldWall).toFixed(3)}×`],
  ];
  process.stdout.write(`\nDomain check of ${INPUT.domain}, ${RUNS} runs, answers delayed ${DELAY_MS} ms\n\n`);
  process.stdout.write(`${layoutTable(["metric", "check", "baseline", "check ÷ baseline"], rows)}\n\n`);
  for (const g of goals) process.stdout.write(`${g.ok ? "✔" : "✖"} ${g.goal}\n`);
  const path = await writeJson(startedAt, { environment: machineEnvironment(["agents/dns", "agents/posture"]), delayMs: DELAY_MS, cold, warm, goals }, "domain");
  process.stdout.write(`\nwritten: ${path}\n`);
  if (goals.some((g) => !g.ok)) process.exitCode = 1;
}

await main();
