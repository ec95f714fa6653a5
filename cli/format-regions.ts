// The human form of ListRegions: one row per live agent, grouped by region. Pure: `now` comes in.
import type { AgentInfo, EgressCheck, ListRegionsResponse } from "../gen/smtpprobe/v1/probe_service.js";
import type { Style } from "./colors.js";
import { outcomeLabel, plural, safe } from "./labels.js";

const GAP = "   ";

export function formatRegions(response: ListRegionsResponse, style: Style, now: Date): string {
  const regions = response.regions.filter((r) => r.agents.length > 0);
  if (regions.length === 0) return `${style.yellow("No region has a live agent.")} Start one with: smtp-probe agent --region NAME --nats URL\n`;
  const head = ["region", "agent", "version", "in flight", "last seen", "egress"];
  const rows: { cells: string[]; egress: string }[] = [];
  for (const region of regions) {
    region.agents.forEach((agent, i) => {
      rows.push({
        cells: [i === 0 ? safe(region.name) : "", safe(agent.agentId), safe(agent.version) || "?", `${agent.inFlight}/${agent.capacity}`, formatAge(agent.lastSeen, now)],
        egress: [formatEgress(agent, style), formatEgressPosture(agent, style)].filter(Boolean).join(style.dim(" · ")),
      });
    });
  }
  const widths = head.slice(0, -1).map((title, i) => Math.max(title.length, ...rows.map((r) => (r.cells[i] ?? "").length)));
  const line = (cells: readonly string[], paint: (text: string, i: number) => string): string =>
    cells.map((cell, i) => paint(i < widths.length ? cell.padEnd(widths[i] ?? 0) : cell, i)).join(GAP).trimEnd();
  const out = [line(head, (text) => style.dim(text))];
  for (const row of rows) out.push(line([...row.cells, row.egress], (text, i) => (i === 0 ? style.bold(text) : text)));
  const agents = regions.reduce((n, r) => n + r.agents.length, 0);
  out.push("", style.dim(`${plural(regions.length, "region")}, ${plural(agents, "agent")}`));
  return `${out.join("\n")}\n`;
}

/** "just now", "4 s ago", "3 min ago", "2 h ago", "in 2 s" (a clock ahead of ours), "never". */
export function formatAge(when: Date | undefined, now: Date): string {
  if (!(when instanceof Date) || Number.isNaN(when.getTime())) return "never";
  const seconds = Math.round((now.getTime() - when.getTime()) / 1000);
  if (seconds < 0) return `in ${-seconds} s`;
  if (seconds < 1) return "just now";
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** Per port, as the agent's canary saw it: "25 ✖ timed out · 587 ✔"; "no canary" when it has none. */
export function formatEgress(agent: AgentInfo, style: Style): string {
  if (agent.egress.length === 0) return style.dim("no canary");
  return [...agent.egress]
    .sort((a, b) => a.port - b.port)
    .map((check) => formatEgressCheck(check, style))
    .join(style.dim(" · "));
}

/**
 * The agent's egress address as DNS sees it (--egress-address): "198.51.100.7 ✖ listed in
 * zen.spamhaus.org (127.0.0.2)", "198.51.100.7 ✔ listed nowhere", with "no reverse DNS" when it
 * has no PTR name; "" when the agent has no egress address or has not read it yet.
 */
export function formatEgressPosture(agent: AgentInfo, style: Style): string {
  const posture = agent.egressPosture;
  if (!posture) return "";
  const parts: string[] = [];
  const listed = posture.blocklists.filter((b) => b.listed);
  const failed = posture.blocklists.filter((b) => b.error !== "");
  if (listed.length > 0) parts.push(`${style.red("✖")} listed in ${listed.map((b) => `${safe(b.zone)}${b.codes.length > 0 ? ` (${safe(b.codes.join(", "))})` : ""}`).join(", ")}`);
  else if (posture.blocklists.length > failed.length) parts.push(`${style.green("✔")} listed nowhere`);
  if (failed.length > 0) parts.push(style.yellow(`${failed.length === 1 ? `${safe(failed[0]!.zone)} did` : `${failed.length} lists did`} not answer`));
  if (posture.reverseDns && posture.reverseDns.ptrNames.length === 0) parts.push(style.yellow("no reverse DNS"));
  return `${safe(posture.address)} ${parts.join(", ")}`.trimEnd();
}

function formatEgressCheck(check: EgressCheck, style: Style): string {
  if (check.ok) return `${check.port} ${style.green("✔")}`;
  return `${check.port} ${style.red("✖")} ${safe(outcomeLabel(check.outcome))}`;
}
