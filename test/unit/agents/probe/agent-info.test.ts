import { describe, expect, it } from "vitest";
import { agentStats, parseAgentInfo } from "../../../../agents/probe/agent-info.js";
import { Outcome } from "../../../../gen/smtpprobe/v1/handshake.js";
import { AgentInfo, EgressCheck } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { SUBJECTS, type DiscoveredService } from "../../../../lib/bus.js";

const seenAt = new Date("2026-05-01T10:00:00.000Z");
const startedAt = new Date("2026-05-01T09:00:00.000Z");
const egress25 = EgressCheck.fromPartial({
  port: 25,
  canary: "canary.example.net:25",
  ok: false,
  outcome: Outcome.OUTCOME_TIMED_OUT,
  detail: "connect timed out",
  checkedAt: new Date("2026-05-01T09:59:00.000Z"),
  durationMs: 5000.5,
});
const egress587 = EgressCheck.fromPartial({ port: 587, canary: "canary.example.net:587", ok: true, outcome: Outcome.OUTCOME_OK, checkedAt: seenAt, durationMs: 12 });

function discovered(data: unknown, overrides: Partial<DiscoveredService> = {}): DiscoveredService {
  return {
    id: "svc-1",
    name: SUBJECTS.agentService,
    version: "0.1.0",
    metadata: { region: "eu-west", agent_id: "agent-a" },
    started: "2026-05-01T08:00:00.000Z",
    data,
    ...overrides,
  };
}

const goodStats = agentStats({ agent_id: "agent-a", region: "eu-west", in_flight: 3, queued: 1, capacity: 32, tasks_done: 41, startedAt, egress: [egress25, egress587] });

describe("agentStats → parseAgentInfo", () => {
  it("round-trips what the agent publishes into the contract's AgentInfo", () => {
    // Through JSON, as it travels.
    const info = parseAgentInfo(discovered(JSON.parse(JSON.stringify(goodStats))), seenAt);
    expect(info).toEqual(
      AgentInfo.fromPartial({
        agentId: "agent-a",
        region: "eu-west",
        version: "0.1.0",
        inFlight: 3,
        capacity: 32,
        tasksDone: 41,
        startedAt,
        lastSeen: seenAt,
        egress: [egress25, egress587],
      }),
    );
  });

  it("round-trips the egress address's reading, and bounds it", () => {
    const posture = {
      address: "198.51.100.7",
      reverseDns: { ptrNames: ["probe.example.net"], forwardConfirmed: true, confirmedName: "probe.example.net", error: "" },
      blocklists: [
        { zone: "zen.example", listed: true, codes: ["127.0.0.2"], reason: "listed", error: "" },
        { zone: "bl.example", listed: false, codes: [], reason: "", error: "" },
      ],
    };
    const checkedAt = new Date("2026-05-01T09:58:00.000Z");
    const stats = agentStats({ agent_id: "agent-a", region: "eu-west", in_flight: 0, queued: 0, capacity: 1, tasks_done: 0, startedAt, egress: [], egressPosture: { posture, checkedAt } });
    const info = parseAgentInfo(discovered(JSON.parse(JSON.stringify(stats))), seenAt);
    expect([info?.egressPosture, info?.egressPostureCheckedAt]).toEqual([posture, checkedAt]);
    // Without a reading, nothing; a hostile one is cut to the bounds.
    expect(parseAgentInfo(discovered(JSON.parse(JSON.stringify(goodStats))), seenAt)?.egressPosture).toBeUndefined();
    const hostile = parseAgentInfo(
      discovered({ egress_posture: { address: "198.51.100.7", reverseDns: { ptrNames: ["a.example"], forwardConfirmed: "yes" }, blocklists: Array.from({ length: 50 }, () => ({ zone: "z".repeat(1000), listed: "yes" })) } }),
      seenAt,
    );
    expect(hostile?.egressPosture?.blocklists).toHaveLength(8);
    expect(hostile?.egressPosture?.reverseDns).toMatchObject({ ptrNames: ["a.example"], forwardConfirmed: false });
    expect(hostile?.egressPosture?.blocklists[0]).toMatchObject({ listed: false });
    expect(hostile?.egressPosture?.blocklists[0]?.zone).toHaveLength(255);
    expect(parseAgentInfo(discovered({ egress_posture: "listed" }), seenAt)?.egressPosture).toBeUndefined();
    expect(parseAgentInfo(discovered({ egress_posture: { blocklists: [] } }), seenAt)?.egressPosture).toBeUndefined();
  });

  it("uses the metadata's agent id and the service's start time when the stats lack them", () => {
    const info = parseAgentInfo(discovered({}), seenAt);
    expect(info).toMatchObject({ agentId: "agent-a", region: "eu-west", inFlight: 0, capacity: 0, egress: [], startedAt: new Date("2026-05-01T08:00:00.000Z") });
  });
});

describe("parseAgentInfo on bad data from the network", () => {
  it.each<[string, DiscoveredService]>([
    ["another service", discovered(goodStats, { name: "something-else" })],
    ["no region", discovered(goodStats, { metadata: { agent_id: "agent-a" } })],
    ["a region that is not a subject token", discovered(goodStats, { metadata: { region: "EU West", agent_id: "a" } })],
    ["a region of the wrong type", discovered(goodStats, { metadata: { region: 7, agent_id: "a" } as unknown as Record<string, string> })],
    ["stats naming another region", discovered({ ...goodStats, region: "us-east" })],
    ["no agent id anywhere", discovered({ ...goodStats, agent_id: undefined }, { metadata: { region: "eu-west" } })],
    ["an agent id with spaces", discovered(goodStats, { metadata: { region: "eu-west", agent_id: "agent a" } })],
    ["metadata that is not an object", discovered(goodStats, { metadata: null as unknown as Record<string, string> })],
    ["not an object at all", "nonsense" as unknown as DiscoveredService],
  ])("is not an agent: %s", (_, service) => {
    expect(parseAgentInfo(service, seenAt)).toBeUndefined();
  });

  it.each<[string, unknown]>([["null", null], ["a string", "hello"], ["an array", [1, 2]], ["a number", 42]])("stats that are %s leave the defaults", (_, data) => {
    expect(parseAgentInfo(discovered(data), seenAt)).toMatchObject({ agentId: "agent-a", inFlight: 0, capacity: 0, tasksDone: 0, egress: [] });
  });

  it.each<[string, unknown]>([
    ["a string", "3"],
    ["negative", -1],
    ["fractional", 2.5],
    ["NaN", Number.NaN],
    ["too large for uint32", 2 ** 33],
    ["an object", { n: 1 }],
  ])("a count that is %s becomes 0", (_, value) => {
    const info = parseAgentInfo(discovered({ ...goodStats, in_flight: value, capacity: value }), seenAt);
    expect(info).toMatchObject({ inFlight: 0, capacity: 0, tasksDone: 41 });
  });

  it("keeps the usable egress checks and repairs or drops the rest", () => {
    const info = parseAgentInfo(
      discovered({
        ...goodStats,
        started_at: "not a time",
        egress: [
          null,
          7,
          "x",
          [],
          { port: 0 },
          { port: 70_000, ok: true },
          { port: 2.5 },
          { port: "25", ok: "yes", outcome: "OUTCOME_BOGUS", checkedAt: "yesterday", durationMs: -4, detail: "d".repeat(5000) },
          { port: 465, ok: true, outcome: "OUTCOME_OK", canary: "c".repeat(500), checkedAt: "2026-05-01T09:00:00Z", durationMs: "12" },
        ],
      }),
      seenAt,
    );
    expect(info!.startedAt).toEqual(new Date("2026-05-01T08:00:00.000Z"));
    expect(info!.egress).toEqual([
      EgressCheck.fromPartial({ port: 25, ok: false, outcome: Outcome.OUTCOME_UNSPECIFIED, detail: "d".repeat(1024), checkedAt: undefined, durationMs: 0 }),
      EgressCheck.fromPartial({ port: 465, ok: true, outcome: Outcome.OUTCOME_OK, canary: "c".repeat(128), checkedAt: new Date("2026-05-01T09:00:00Z"), durationMs: 12 }),
    ]);
  });

  it("egress that is not a list is none, and a long list is bounded", () => {
    expect(parseAgentInfo(discovered({ ...goodStats, egress: { port: 25 } }), seenAt)!.egress).toEqual([]);
    const many = Array.from({ length: 500 }, (_, i) => ({ port: i + 1, ok: true }));
    expect(parseAgentInfo(discovered({ ...goodStats, egress: many }), seenAt)!.egress).toHaveLength(64);
  });
});
