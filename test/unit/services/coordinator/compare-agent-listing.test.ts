// AGENT_LISTED in the comparison: the regions that answered through an agent whose egress address
// a blocklist lists are named, with the address and the lists; a list that did not answer, an
// agent without a reading, or a region without an answer says nothing. Pure.
import { describe, expect, it } from "vitest";
import { AddressPosture } from "../../../../gen/smtpprobe/v1/address_posture.js";
import { type DeepPartial, Severity } from "../../../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { compareRegions } from "../../../../services/coordinator/compare.js";
import { done, ok, silent } from "../../../helpers/report-builders.js";

const egress = (address: string, listedIn: string[], failed: string[] = []): DeepPartial<AddressPosture> => ({
  address,
  blocklists: [...listedIn.map((zone) => ({ zone, listed: true, codes: ["127.0.0.2"] })), ...failed.map((zone) => ({ zone, error: "timed out" })), { zone: "clean.example" }],
});
const listedVerdicts = (tasks: Parameters<typeof compareRegions>[0], regions: string[]) =>
  compareRegions(tasks, regions, [25]).verdicts.filter((v) => v.kind === VerdictKind.VERDICT_KIND_AGENT_LISTED);

describe("AGENT_LISTED", () => {
  it("names the region whose agent is listed, after the reachability verdict", () => {
    const comparison = compareRegions(
      [done("us-east", 25, [ok()], { agentEgressPosture: egress("198.51.100.7", []) }), done("eu-west", 25, [ok()], { agentEgressPosture: egress("198.51.100.9", ["zen.example"]) })],
      ["us-east", "eu-west"],
      [25],
    );
    expect(comparison.verdicts.map((v) => v.kind)).toEqual([VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, VerdictKind.VERDICT_KIND_AGENT_LISTED]);
    expect(comparison.verdicts[1]).toEqual({
      port: 25,
      kind: VerdictKind.VERDICT_KIND_AGENT_LISTED,
      regions: ["eu-west"],
      causes: [{ region: "eu-west", cause: "the agent's address 198.51.100.9 is listed in zen.example (127.0.0.2)" }],
      summary:
        "Port 25: the agent in eu-west leaves from an address listed in a DNS blocklist: a server that uses the list may refuse or delay it where it accepts other senders, so what eu-west saw may not be what others see.",
      severity: Severity.SEVERITY_WARNING,
      failedAddresses: [],
    });
  });

  it("several regions in one verdict", () => {
    const [v] = listedVerdicts(
      [done("us-east", 25, [ok()], { agentEgressPosture: egress("198.51.100.7", ["a.example", "b.example"]) }), done("eu-west", 25, [ok()], { agentEgressPosture: egress("198.51.100.9", ["a.example"]) })],
      ["us-east", "eu-west"],
    );
    expect(v?.regions).toEqual(["us-east", "eu-west"]);
    expect(v?.causes[0]?.cause).toBe("the agent's address 198.51.100.7 is listed in a.example (127.0.0.2), b.example (127.0.0.2)");
    expect(v?.summary).toMatch(/^Port 25: the agents in us-east and eu-west leave from addresses listed in a DNS blocklist: a server that uses the list may refuse or delay them/);
  });

  it.each<[string, Parameters<typeof compareRegions>[0]]>([
    ["an agent without a reading", [done("eu-west", 25, [ok()])]],
    ["lists that did not answer", [done("eu-west", 25, [ok()], { agentEgressPosture: egress("198.51.100.9", [], ["zen.example"]) })]],
    ["a region without an answer", [{ ...silent("eu-west", 25, TaskStatus.TASK_STATUS_NO_AGENT), agentEgressPosture: AddressPosture.fromPartial(egress("198.51.100.9", ["zen.example"])) }]],
  ])("says nothing for %s", (_name, tasks) => {
    expect(listedVerdicts(tasks, ["eu-west"])).toEqual([]);
  });
});
