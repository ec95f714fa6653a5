// Checking an agent's answer to a DomainTask before it goes into a report: the agent is not
// trusted (docs/design.md §3). A posture must be of the domain and region asked and within the
// bounds the agent's own check keeps; anything else is a missing region with the reason. Pure.
import { DomainTaskReply } from "../../gen/smtpprobe/agent/v1/agent.js";
import type { DomainPosture, SpfRecordNode } from "../../gen/smtpprobe/v1/domain.js";

export const MAX_DOMAIN_REPLY_BYTES = 1024 * 1024;
const BOUNDS = { findings: 400, exchangers: 64, addresses: 64, blocklists: 8, dkimKeys: 32, spfNodes: 64, evaluations: 16, ptrNames: 64, text: 8192 };

export type DomainReplyCheck = { ok: true; posture: DomainPosture; agentId: string } | { ok: false; reason: string };

export function checkDomainReply(bytes: Uint8Array, expected: { domain: string; region: string }): DomainReplyCheck {
  if (bytes.byteLength > MAX_DOMAIN_REPLY_BYTES) return { ok: false, reason: `the agent's answer is ${bytes.byteLength} bytes, over ${MAX_DOMAIN_REPLY_BYTES}` };
  let reply: DomainTaskReply;
  try {
    reply = DomainTaskReply.decode(bytes);
  } catch (error) {
    return { ok: false, reason: `the agent's answer is not a DomainTaskReply (${String(error).slice(0, 100)})` };
  }
  if (reply.error !== undefined) return { ok: false, reason: `the agent could not run the check: ${reply.error.slice(0, 300)}` };
  const posture = reply.posture;
  if (!posture) return { ok: false, reason: "the agent's answer holds no posture" };
  if (posture.domain !== expected.domain) return { ok: false, reason: `the agent checked ${posture.domain.slice(0, 100)}, not ${expected.domain}` };
  if (posture.region !== expected.region) return { ok: false, reason: `the agent answered for region ${posture.region.slice(0, 64)}, not ${expected.region}` };
  const problem = boundsProblem(posture);
  return problem ? { ok: false, reason: `the agent's posture is out of bounds: ${problem}` } : { ok: true, posture, agentId: reply.agentId.slice(0, 128) };
}

function boundsProblem(p: DomainPosture): string | undefined {
  if (p.findings.length > BOUNDS.findings) return `${p.findings.length} findings`;
  if (p.findings.some((f) => f.message.length > BOUNDS.text || f.code.length > 64)) return "a finding's text is too long";
  const mx = p.mx;
  if (mx && mx.exchangers.length > BOUNDS.exchangers) return `${mx.exchangers.length} exchangers`;
  for (const e of mx?.exchangers ?? []) {
    if (e.addresses.length > BOUNDS.addresses || e.addressPostures.length > BOUNDS.addresses) return `exchanger ${e.exchange.slice(0, 100)}: too many addresses`;
    for (const a of e.addressPostures) {
      if (a.blocklists.length > BOUNDS.blocklists) return `${a.blocklists.length} blocklists for ${a.address.slice(0, 64)}`;
      if ((a.reverseDns?.ptrNames.length ?? 0) > BOUNDS.ptrNames) return `too many PTR names for ${a.address.slice(0, 64)}`;
    }
  }
  if (p.dkimKeys.length > BOUNDS.dkimKeys) return `${p.dkimKeys.length} DKIM keys`;
  if (p.spf && p.spf.evaluations.length > BOUNDS.evaluations) return `${p.spf.evaluations.length} SPF evaluations`;
  if (p.spf?.record && countNodes(p.spf.record, 0) > BOUNDS.spfNodes) return "an SPF tree too large or too deep";
  return undefined;
}

function countNodes(node: SpfRecordNode, depth: number): number {
  if (depth > BOUNDS.spfNodes) return Number.POSITIVE_INFINITY;
  return 1 + node.children.reduce((sum, child) => sum + countNodes(child, depth + 1), 0);
}
