// The deploy/nats/ topology end to end: a hub nats-server from hub.conf (JetStream) and one leaf
// nats-server per region from its leaf-<region>.conf (ports rewritten to free
// loopback ports, leaf connections over TLS with a test CA), the coordinator as a process on the
// hub and one agent process per leaf, each logged in as its user with a password file. A probe
// through the gRPC API to an smtp-server fixture on 127.0.0.1 crosses every leaf connection:
// tasks down, permits up and back, progress and results back. Nothing outside 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Outcome } from "../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type ProbeReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { connectProbeApi, type ProbeApi } from "../helpers/grpc-client.js";
import { DEPLOY_REGIONS, natsServerAvailable, startDeployTopology, type DeployTopology } from "../helpers/nats-server.js";
import { startAgentProcess, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, startedAll, stopAll, type AgentProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { need } from "../helpers/requirements.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";

const nats = await need(natsServerAvailable);

describe.skipIf(nats.skip)("a hub and a leaf nats-server per region from deploy/nats/", () => {
  let topology: DeployTopology;
  let fixture: SmtpFixture;
  let coordinator: CoordinatorProcess;
  let agents: AgentProcess[] = [];
  let api: ProbeApi;
  const logs = (what: unknown): string =>
    `${JSON.stringify(what, (k, v) => (k === "transcript" || k === "chain" ? "…" : v)).slice(0, 3000)}\n${[coordinator, ...agents, topology?.hub, ...(topology?.leaves.values() ?? [])]
      .filter(Boolean)
      .map((p) => `--- ${p!.name}\n${p!.output().slice(-2000)}`)
      .join("\n")}`;

  beforeAll(async () => {
    [topology, fixture] = await Promise.all([startDeployTopology(DEPLOY_REGIONS), startSmtpFixture()]);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port] };
    const login = async (user: string) => ["--nats-user", user, "--nats-password-file", await topology.passwordFile(user)];
    const coordinatorReady = startCoordinatorProcess({ nats: topology.hub.url, heartbeat: "200ms", ...policy, extraArgs: await login("coordinator") }).then((c) => {
      coordinator = c;
      return (api = connectProbeApi(c.address));
    });
    const agentLogins = await Promise.all(DEPLOY_REGIONS.map((region) => login(`agent-${region}`)));
    agents = await startedAll(
      DEPLOY_REGIONS.map((region, i) =>
        startAgentProcess({
          region,
          agentId: `${region}-1`,
          nats: topology.leaves.get(region)!.url,
          readyVia: coordinatorReady,
          grace: "2s",
          ...policy,
          extraArgs: agentLogins[i],
        }),
      ),
    );
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    api?.close();
    await stopAll([coordinator, ...agents]);
    await Promise.all([topology?.stop(), fixture?.stop()]);
  });

  it("a probe returns a result from each region, through its leaf connection", async () => {
    const report: ProbeReport = await api.probe({ host: "127.0.0.1", ports: [fixture.port], regions: [...DEPLOY_REGIONS] }, { deadlineMs: 20_000 });
    expect(report.tasks.map((t) => t.region)).toEqual([...DEPLOY_REGIONS]);
    for (const task of report.tasks) {
      expect(task.status, logs(report)).toBe(TaskStatus.TASK_STATUS_DONE);
      expect(task.agentId).toBe(`${task.region}-1`);
      expect(task.result?.handshakes[0]?.outcome, logs(report)).toBe(Outcome.OUTCOME_OK);
      expect(task.result?.handshakes[0]?.banner?.code).toBe(220);
    }
    expect(report.complete).toBe(true);
    // Each region's agent connected to the fixture itself (after a permit from the coordinator).
    expect(fixture.connections()).toBeGreaterThanOrEqual(DEPLOY_REGIONS.length);
    // The report went to the hub's JetStream KV bucket, under the coordinator's permissions.
    const stored = await api.getProbe(report.probeId);
    expect(stored.tasks.map((t) => t.status)).toEqual(report.tasks.map((t) => t.status));
  });

  it("ListRegions sees every region's agents through the leaf connections (discovery)", async () => {
    const { regions } = await api.listRegions();
    expect(regions.filter((r) => r.agents.length > 0).map((r) => r.name).sort()).toEqual([...DEPLOY_REGIONS].sort());
  });
});
