// AGENT_LISTED: a region whose answer came from an agent that leaves from an address a DNS
// blocklist lists (the agent's --egress-address, read by the agent, attached by the coordinator
// as TaskReport.agent_egress_posture). A server that uses the list may refuse or delay that agent
// where it accepts others, so what the region saw is said to be worth less. Pure.
import { Severity } from "../../gen/smtpprobe/v1/handshake.js";
import { VerdictKind, type PortVerdict, type TaskReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { listJoin } from "./compare-text.js";

/** A region that answered on the port, with the task that did. */
export interface AnsweredRegion {
  region: string;
  task: TaskReport | undefined;
}

/** The verdict about the regions whose agent is listed, in the order given; undefined when none is. */
export function agentListedVerdict(port: number, answered: readonly AnsweredRegion[]): PortVerdict | undefined {
  const listed = answered.flatMap(({ region, task }) => {
    const posture = task?.agentEgressPosture;
    const lists = posture?.blocklists.filter((b) => b.listed && b.error === "") ?? [];
    if (!posture || lists.length === 0) return [];
    const where = lists.map((b) => (b.codes.length > 0 ? `${b.zone} (${b.codes.join(", ")})` : b.zone)).join(", ");
    return [{ region, cause: `the agent's address ${posture.address} is listed in ${where}` }];
  });
  if (listed.length === 0) return undefined;
  const regions = listed.map((l) => l.region);
  const names = listJoin(regions);
  const several = listed.length > 1;
  return {
    port,
    kind: VerdictKind.VERDICT_KIND_AGENT_LISTED,
    regions,
    causes: listed,
    summary:
      `Port ${port}: the ${several ? "agents" : "agent"} in ${names} ${several ? "leave from addresses" : "leaves from an address"} listed in a DNS blocklist: ` +
      `a server that uses the list may refuse or delay ${several ? "them" : "it"} where it accepts other senders, so what ${names} saw may not be what others see.`,
    severity: Severity.SEVERITY_WARNING,
    failedAddresses: [],
  };
}
