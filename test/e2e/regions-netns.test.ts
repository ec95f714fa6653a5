// Regions as network namespaces (root): the regional comparison end to end, through the gRPC API,
// with real network paths that differ per region. The lab (scripts/lab/lab-network.ts) is one
// bridge, 198.19.<x>.1/24 in the host's namespace (nats-server listens there; the coordinator
// runs in the host's namespace too), and one namespace per lab host:
//
//   us-east    .11  agent  nothing in the way
//   eu-west    .12  agent  nft: SYNs to target:25 dropped            → "dropped"
//   ap-south   .13  agent  nft: target:25 answered with a TCP reset   → "refused"
//   sa-east    .14  agent  nft: every outbound :25 dropped, its canary's too → AGENT_EGRESS_BLOCKED
//   me-central .15  agent  nft DNAT: target:587 goes to the stripper  → STARTTLS stripped on 587
//   target     .100 smtp-server with STARTTLS on 25 and 587; .103:587 the STARTTLS-stripping relay
//   canary     .101 smtp-server on 25: every agent's --canary
//
// Every agent allowlists 198.18.0.0/15 and ports 25 and 587. Nothing else is contacted: the
// namespaces have no default route, and keepTestRangeLocal() blackholes the test range.
// The STARTTLS stripper itself: test/integration/scripts/lab/starttls-stripper.test.ts.
import { X509Certificate } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Outcome } from "../../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus, VerdictKind, type ListRegionsResponse, type ProbeReport, type PortVerdict } from "../../gen/smtpprobe/v1/probe_service.js";
import { testPki } from "../helpers/certs.js";
import { connectProbeApi, describeError, type ProbeApi } from "../helpers/grpc-client.js";
import { createLab, egressRules, type Lab, type LabHost, type LabProcess } from "../../scripts/lab/lab-network.js";
import { natsServerAvailable, startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { keepTestRangeLocal, netnsAvailable } from "../../scripts/lab/netns-support.js";
import { startCoordinatorProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { CROSS_PROCESS_SLACK_MS, endsBy, notBefore } from "../helpers/timing.js";
import { delay } from "../helpers/wait.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = fileURLToPath(new URL("../../bin/smtp-probe.js", import.meta.url));
const TARGET_SCRIPT = fileURLToPath(new URL("../../scripts/lab/smtp-target.ts", import.meta.url));

const requirement = await need(netnsAvailable, natsServerAvailable);

const REGION_HOSTS = { "us-east": 11, "eu-west": 12, "ap-south": 13, "sa-east": 14, "me-central": 15 } as const;
type Region = keyof typeof REGION_HOSTS;
const REGIONS = Object.keys(REGION_HOSTS) as Region[];
const STRIPPED: Region = "me-central";
const TARGET_HOST = 100;
const CANARY_HOST = 101;
const STRIPPER_HOST = 103;
const ALLOW = ["--allow-cidr", "198.18.0.0/15", "--allow-ports", "25,587"];
// Each readiness wait. The whole set-up takes about 10 s on an idle machine (5 of them sa-east's
// first canary, which waits out its connect timeout); the margin is for a machine so busy that
// eight Node processes starting at once take half a minute.
const READY_MS = 45_000;

describe.skipIf(requirement.skip)("regions as network namespaces: blocked, refused, egress-blocked, STARTTLS stripped", () => {
  let lab: Lab;
  let nats: NatsServer;
  let coordinator: CoordinatorProcess | undefined;
  let api: ProbeApi;
  let target: string;
  let canary: string;
  let targetFingerprint: string;
  let regionsAtStart: ListRegionsResponse;
  const processes: LabProcess[] = [];
  let report: Promise<ProbeReport> | undefined;

  /** A failure message with what the processes said last. */
  const logs = (): string =>
    [...processes, ...(coordinator ? [coordinator] : [])].map((p) => `--- ${p.name}\n${p.output().slice(-1500)}`).join("\n");

  beforeAll(async () => {
    const started = performance.now();
    const marks: string[] = [];
    const mark = (what: string): void => void marks.push(`${what} +${Math.round(performance.now() - started)} ms`);
    await keepTestRangeLocal();
    lab = await createLab();
    target = lab.address(TARGET_HOST);
    canary = lab.address(CANARY_HOST);
    const stripperAddress = lab.address(STRIPPER_HOST);

    // Namespaces, nats-server and certificates at the same time: each waits on something else.
    const certificates = testPki().then((pki) =>
      Promise.all([pki.leaf({ names: ["target.splab.test", target] }), pki.leaf({ names: ["canary.splab.test", canary] })]),
    );
    const natsStarted = startNatsServer({ host: lab.gateway, jetstream: false }).then((server) => (nats = server));
    // The coordinator (host namespace) is the slowest to start: it goes first, once NATS is up.
    const coordinatorStarted = natsStarted
      .then((server) =>
        startCoordinatorProcess({ nats: server.url, heartbeat: "200ms", allowCidrs: ["198.18.0.0/15"], allowPorts: [25, 587], readyTimeoutMs: READY_MS }),
      )
      .then((started) => (coordinator = started))
      .finally(() => mark("coordinator serving"));
    coordinatorStarted.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    const hostsMade = Promise.all([
      lab.addHost("target", TARGET_HOST, { extra: [STRIPPER_HOST] }),
      lab.addHost("canary", CANARY_HOST),
      ...REGIONS.map((region) => lab.addHost(region, REGION_HOSTS[region])),
    ]);
    const [[targetHost, canaryHost, ...regionHosts], [targetCert, canaryCert]] = await Promise.all([hostsMade, certificates, natsStarted]);
    mark("namespaces, nats-server, certificates");
    const hostOf = (region: Region): LabHost => regionHosts[REGIONS.indexOf(region)] as LabHost;
    await Promise.all([
      hostOf("eu-west").nft(egressRules([{ action: "drop", to: target, port: 25 }])),
      hostOf("ap-south").nft(egressRules([{ action: "reset", to: target, port: 25 }])),
      hostOf("sa-east").nft(egressRules([{ action: "drop", port: 25 }])),
      hostOf("me-central").nft(egressRules([{ action: "redirect", to: target, port: 587, via: `${stripperAddress}:587` }])),
    ]);
    targetFingerprint = new X509Certificate(targetCert.certPem).fingerprint256;
    const smtpTarget = (host: LabHost, config: object): LabProcess =>
      host.spawn(`smtp ${host.name}`, process.execPath, ["--import", "tsx", TARGET_SCRIPT, JSON.stringify(config)], { lifeline: true, cwd: ROOT });
    const targetProcess = smtpTarget(targetHost as LabHost, {
      name: "target.splab.test",
      listen: [`${target}:25`, `${target}:587`],
      tls: targetCert,
      strip: [{ listen: `${stripperAddress}:587`, upstream: `${target}:587` }],
    });
    const canaryProcess = smtpTarget(canaryHost as LabHost, { name: "canary.splab.test", listen: [`${canary}:25`], tls: canaryCert });
    processes.push(targetProcess, canaryProcess);
    for (const region of REGIONS) {
      const args = [BIN, "agent", "--region", region, "--agent-id", `${region}-1`, "--nats", nats.url, ...ALLOW];
      args.push("--canary", `${canary}:25`, "--canary-interval", "1s", "--grace", "1s", "--log-level", process.env.LOG_LEVEL || "warn");
      processes.push(hostOf(region).spawn(`agent ${region}`, process.execPath, args, { cwd: ROOT }));
    }
    const [running] = await Promise.all([
      coordinatorStarted,
      targetProcess.waitForOutput(/^READY$/m, READY_MS).finally(() => mark("target listening")),
      canaryProcess.waitForOutput(/^READY$/m, READY_MS).finally(() => mark("canary listening")),
    ]);
    api = connectProbeApi(running.address);
    // The egress verdict needs each agent's first canary round (sa-east's takes its connect timeout).
    regionsAtStart = await waitForCanaries(api, 25, READY_MS, logs);
    mark("every agent's first canary round seen");
    if (process.env.LOG_LEVEL) console.info(`lab ready: ${marks.join(", ")}`);
  }, 3 * READY_MS);

  afterAll(async () => {
    api?.close();
    await coordinator?.stop();
    await lab?.stop(); // agents, SMTP targets, namespaces, veths, bridge
    await nats?.stop();
  }, 20_000);

  const CONNECT_MS = 1_000;
  const DEADLINE_MS = 5_000;

  /** One probe of the target from every region, on 25 and 587; the tests below read it. */
  function probeOnce(): Promise<ProbeReport> {
    report ??= api.probe(
      {
        host: target,
        ports: [25, 587],
        regions: REGIONS,
        // Dropped SYNs end at the connect timeout; everything else answers within milliseconds.
        options: { timeouts: { connectMs: CONNECT_MS, deadlineMs: DEADLINE_MS } },
      },
      { deadlineMs: 10_000 },
    );
    return report;
  }

  const verdictsOf = (r: ProbeReport, port: number): PortVerdict[] => (r.comparison?.verdicts ?? []).filter((v) => v.port === port);
  const cellOf = (r: ProbeReport, region: Region, port: number) => r.comparison?.cells.find((c) => c.region === region && c.port === port);
  const causes = (v: PortVerdict | undefined): Record<string, string> => Object.fromEntries((v?.causes ?? []).map((c) => [c.region, c.cause]));

  it("ListRegions shows every agent's canary: only sa-east cannot get out on port 25", () => {
    const egress = Object.fromEntries(
      regionsAtStart.regions.map((r) => [r.name, r.agents.flatMap((a) => a.egress.filter((e) => e.port === 25))[0]]),
    );
    expect(Object.keys(egress).sort()).toEqual([...REGIONS].sort());
    for (const region of REGIONS) {
      expect(egress[region]?.canary, region).toBe(`${canary}:25`);
      expect(egress[region]?.ok, `${region}: ${egress[region]?.detail}`).toBe(region !== "sa-east");
    }
    expect(egress["sa-east"]?.outcome).toBe(Outcome.OUTCOME_TIMED_OUT);
  });

  it("every region answers on both ports within the deadline", async () => {
    const r = await probeOnce().catch((error: unknown) => {
      throw new Error(`Probe failed: ${describeError(error)}\n${logs()}`);
    });
    const statuses = r.tasks.map((t) => `${t.region}/${t.port}: ${TaskStatus[t.status]} ${t.detail}`);
    expect(statuses.filter((s) => !s.includes("TASK_STATUS_DONE")), logs()).toEqual([]);
    expect(r.tasks).toHaveLength(REGIONS.length * 2);
    expect(r.complete).toBe(true);
    // The dropped connects end at the connect timeout asked for (1 s), not at the deadline (5 s, of
    // which the agent gets four fifths).
    for (const region of ["eu-west", "sa-east"] as const) {
      expect(cellOf(r, region, 25)?.totalMs, region).toBeGreaterThanOrEqual(notBefore(CONNECT_MS));
      expect(cellOf(r, region, 25)?.totalMs, region).toBeLessThan(endsBy(CONNECT_MS, CROSS_PROCESS_SLACK_MS));
    }
  });

  it("port 25: BLOCKED_FROM_REGIONS names eu-west (dropped) and ap-south (refused); open from us-east and me-central", async () => {
    const r = await probeOnce();
    const verdicts = verdictsOf(r, 25);
    expect(verdicts.map((v) => VerdictKind[v.kind])).toEqual(["VERDICT_KIND_BLOCKED_FROM_REGIONS", "VERDICT_KIND_AGENT_EGRESS_BLOCKED"]);
    const blocked = verdicts[0];
    expect([...(blocked?.regions ?? [])].sort()).toEqual(["ap-south", "eu-west"]);
    expect(causes(blocked)).toEqual({ "eu-west": "dropped", "ap-south": "refused" });
    expect(blocked?.summary).toMatch(/dropped from eu-west/);
    expect(blocked?.summary).toMatch(/refused from ap-south/);
    expect(blocked?.summary).toMatch(/open from .*us-east/);
    expect(blocked?.summary).toMatch(/open from .*me-central/);

    expect(cellOf(r, "us-east", 25)?.state).toBe(CellState.CELL_STATE_REACHED);
    expect(cellOf(r, "me-central", 25)?.state).toBe(CellState.CELL_STATE_REACHED);
    expect(cellOf(r, "eu-west", 25)).toMatchObject({ state: CellState.CELL_STATE_BLOCKED, cause: "dropped", outcome: Outcome.OUTCOME_TIMED_OUT });
    expect(cellOf(r, "ap-south", 25)).toMatchObject({ state: CellState.CELL_STATE_BLOCKED, cause: "refused", outcome: Outcome.OUTCOME_REFUSED });
  });

  it("sa-east is AGENT_EGRESS_BLOCKED on port 25, never blocked by the target", async () => {
    const r = await probeOnce();
    const verdicts = verdictsOf(r, 25);
    const egress = verdicts.find((v) => v.kind === VerdictKind.VERDICT_KIND_AGENT_EGRESS_BLOCKED);
    expect(egress?.regions).toEqual(["sa-east"]);
    expect(causes(egress)["sa-east"]).toContain(`${canary}:25`);
    for (const v of verdicts.filter((v) => v.kind !== VerdictKind.VERDICT_KIND_AGENT_EGRESS_BLOCKED)) {
      expect(v.regions, VerdictKind[v.kind]).not.toContain("sa-east");
      expect(v.summary).not.toContain("sa-east");
    }
    const task = r.tasks.find((t) => t.region === "sa-east" && t.port === 25);
    expect(task?.egress).toMatchObject({ port: 25, ok: false, canary: `${canary}:25` });
    expect(cellOf(r, "sa-east", 25)).toMatchObject({ state: CellState.CELL_STATE_BLOCKED, cause: "dropped (agent egress)" });
    // On 587 nothing is in sa-east's way, and no canary speaks for that port.
    expect(cellOf(r, "sa-east", 587)?.state).toBe(CellState.CELL_STATE_REACHED);
  });

  it("port 587: REACHABLE_EVERYWHERE, and STARTTLS_DIFFERS names exactly the region behind the stripper", async () => {
    const r = await probeOnce();
    const verdicts = verdictsOf(r, 587);
    expect(verdicts.map((v) => VerdictKind[v.kind])).toEqual(["VERDICT_KIND_REACHABLE_EVERYWHERE", "VERDICT_KIND_STARTTLS_DIFFERS"]);
    expect([...(verdicts[0]?.regions ?? [])].sort()).toEqual([...REGIONS].sort());
    const starttls = verdicts[1];
    expect(starttls?.regions).toEqual([STRIPPED]);
    expect(causes(starttls)).toEqual({ [STRIPPED]: "STARTTLS not offered" });
    expect(starttls?.summary).toMatch(new RegExp(`possible STARTTLS stripping on the path from ${STRIPPED}`));

    // What each region saw: the stripped one a plaintext session that went as far as QUIT; the
    // others TLS with the target's own certificate (no interception anywhere else).
    for (const region of REGIONS) {
      const handshake = r.tasks.find((t) => t.region === region && t.port === 587)?.result?.handshakes[0];
      expect(handshake?.outcome, region).toBe(Outcome.OUTCOME_OK);
      if (region === STRIPPED) {
        expect(handshake?.capabilities?.starttls).toBe(false);
        expect(handshake?.tls).toBeUndefined();
      } else {
        expect(handshake?.capabilities?.starttls, region).toBe(true);
        expect(handshake?.tls?.chain[0]?.fingerprintSha256, region).toBe(targetFingerprint);
      }
    }
  });

  it("port 25 shows no STARTTLS difference: the stripper sits on me-central's path to 587 only", async () => {
    const r = await probeOnce();
    expect(verdictsOf(r, 25).some((v) => v.kind === VerdictKind.VERDICT_KIND_STARTTLS_DIFFERS)).toBe(false);
    const handshake = r.tasks.find((t) => t.region === STRIPPED && t.port === 25)?.result?.handshakes[0];
    expect(handshake?.tls?.chain[0]?.fingerprintSha256).toBe(targetFingerprint);
  });
});

/**
 * Polls ListRegions until every region has an agent with a canary check on `port` (ListRegions
 * runs a fresh discovery round, so the probe that follows sees the same checks).
 */
async function waitForCanaries(api: ProbeApi, port: number, timeoutMs: number, logs: () => string): Promise<ListRegionsResponse> {
  const until = Date.now() + timeoutMs;
  let last = "no answer yet";
  for (;;) {
    try {
      const response = await api.listRegions({ deadlineMs: 3_000 });
      const pending = REGIONS.filter((region) => {
        const agents = response.regions.find((r) => r.name === region)?.agents ?? [];
        return !agents.some((a) => a.egress.some((e) => e.port === port));
      });
      if (pending.length === 0) return response;
      last = `waiting for the first canary check of ${pending.join(", ")}`;
    } catch (error) {
      last = describeError(error);
    }
    if (Date.now() >= until) throw new Error(`agents not ready after ${timeoutMs} ms (${last})\n${logs()}`);
    await delay(100);
  }
}
