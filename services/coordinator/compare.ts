// The regional comparison (docs/design.md §3): a pure function of the task reports. A region × port
// matrix, the regions that gave no answer, and per port a reachability verdict followed by what
// differs between the regions that reached it. The same input always gives the same output, in the
// order of the regions and ports given.
import { Severity } from "../../gen/smtpprobe/v1/handshake.js";
import {
  type AddressFailure,
  CellState,
  type Comparison,
  type MatrixCell,
  type PortVerdict,
  type RegionCause,
  type TaskReport,
  TaskStatus,
  VerdictKind,
} from "../../gen/smtpprobe/v1/probe_service.js";
import { buildCell, type CellView, countsAgainstTarget, pickTask } from "./compare-cells.js";
import { differenceVerdicts } from "./compare-differences.js";
import { describePartial } from "./compare-partial.js";
import { agentListedVerdict } from "./compare-agent-listing.js";
import { formatCellMs, listJoin, phraseJoin, portsText } from "./compare-text.js";

/**
 * Compares what each region saw on each port.
 *
 * - `cells`: one per (region, port), regions in the order given, then ports. A (region, port)
 *   without a task report is a NO_ANSWER cell ("no report"); reports for other regions or ports
 *   are ignored; of several reports for one cell the DONE one counts.
 * - `missing`: one entry per region that did not answer on some port (no agent, agent lost, ...).
 *   Such regions are never counted as blocked nor as unreachable.
 * - `unknownRegions`: the regions no agent has ever served (every task UNKNOWN_REGION), apart
 *   from `missing`: a name nobody knows, not an outage.
 * - `verdicts`: per port in the order given, the reachability verdict (REACHABLE_EVERYWHERE,
 *   PARTIALLY_REACHABLE, BLOCKED_FROM_REGIONS, UNREACHABLE_EVERYWHERE or NO_DATA;
 *   AGENT_EGRESS_BLOCKED alone when the only regions that answered are blocked at their own
 *   egress), then AGENT_EGRESS_BLOCKED, then AGENT_LISTED (the regions that answered through an
 *   agent whose egress address a blocklist lists), then the differences between the regions that
 *   reached the port. Every address counts: REACHABLE_EVERYWHERE only when every address (of every exchanger)
 *   answered in every region that could test the port; the failed ones are named in the summary
 *   and listed in `failed_addresses` of the other verdicts.
 */
export function compareRegions(tasks: readonly TaskReport[], regions: readonly string[], ports: readonly number[]): Comparison {
  const regionList = [...new Set(regions)];
  const portList = [...new Set(ports)];
  const reports = new Map<string, TaskReport[]>();
  for (const task of tasks) {
    const key = cellKey(task.region, task.port);
    const list = reports.get(key);
    if (list) list.push(task);
    else reports.set(key, [task]);
  }

  const views = new Map<string, CellView>();
  const cells: MatrixCell[] = [];
  for (const region of regionList) {
    for (const port of portList) {
      const view = buildCell(region, port, pickTask(reports.get(cellKey(region, port)) ?? []));
      views.set(cellKey(region, port), view);
      cells.push(view.cell);
    }
  }
  const viewOf = (region: string, port: number): CellView => views.get(cellKey(region, port)) as CellView;

  const verdicts = portList.flatMap((port) => {
    const column = regionList.map((region) => viewOf(region, port));
    const reached = column
      .filter((v) => isReached(v.cell.state))
      .map((v) => ({ region: v.cell.region, handshakes: v.task?.result?.handshakes ?? [] }));
    const answered = column.filter((v) => v.cell.state !== CellState.CELL_STATE_NO_ANSWER).map((v) => ({ region: v.cell.region, task: v.task }));
    const listed = agentListedVerdict(port, answered);
    return [...reachabilityVerdicts(port, column, regionList.length), ...(listed ? [listed] : []), ...differenceVerdicts(port, reached)];
  });

  // A region no agent has ever served is a name nobody knows, not an outage: named apart.
  const unknownRegions = regionList.filter((region) => portList.length > 0 && portList.every((port) => viewOf(region, port).cell.taskStatus === TaskStatus.TASK_STATUS_UNKNOWN_REGION));
  const missing = regionList.filter((region) => !unknownRegions.includes(region)).flatMap((region) => missingCause(region, portList.map((port) => viewOf(region, port))));
  return { cells, verdicts, missing, unknownRegions };
}

function cellKey(region: string, port: number): string {
  return `${port}\u0000${region}`;
}

/** The region reached the port: on every address (REACHED) or on some (PARTIAL). */
function isReached(state: CellState): boolean {
  return state === CellState.CELL_STATE_REACHED || state === CellState.CELL_STATE_PARTIAL;
}

/** Each address that failed (and counts against the target), with its region, regions in order. */
function failuresOf(views: readonly CellView[]): AddressFailure[] {
  return views.flatMap((v) => v.cell.addresses.filter(countsAgainstTarget).map((address) => ({ region: v.cell.region, address })));
}

interface PartialGroup {
  regions: string[];
  reached: string;
  failed: string;
  mx: boolean;
}

/** Partial regions grouped by what they reached and what failed how, in the order given. */
function partialGroups(views: readonly CellView[]): PartialGroup[] {
  const groups = new Map<string, PartialGroup>();
  for (const v of views) {
    if (v.cell.state !== CellState.CELL_STATE_PARTIAL) continue;
    const reached = v.addresses.filter((a) => a.cell.state === CellState.CELL_STATE_REACHED).map((a) => a.cell);
    const failed = v.addresses.filter((a) => countsAgainstTarget(a.cell));
    const text = describePartial(reached, failed);
    const key = `${text.reached}\u0000${text.failed}`;
    const group = groups.get(key);
    if (group) group.regions.push(v.cell.region);
    else groups.set(key, { regions: [v.cell.region], ...text });
  }
  return [...groups.values()];
}

/** "from eu-west, IPv6 (::1) is refused; from ap-south, 192.0.2.2 is dropped". */
function partialClauses(groups: readonly PartialGroup[]): string {
  return groups.map((g) => `from ${listJoin(g.regions)}, ${g.failed}`).join("; ");
}

/**
 * PARTIALLY_REACHABLE's sentence: "Port 25 is open from local on IPv4 (127.0.0.1), but IPv6 (::1)
 * is refused." when the regions saw the same; else each group of regions with what failed there.
 */
function partialSummary(port: number, reached: readonly CellView[], groups: readonly PartialGroup[]): string {
  const [only] = groups;
  if (groups.length === 1 && only && only.regions.length === reached.length) {
    return `Port ${port} is open from ${listJoin(only.regions)} ${only.reached}, but ${only.failed}.`;
  }
  const every = groups.some((g) => g.mx) ? "through every exchanger" : "on every address";
  return `Port ${port} is open from ${listJoin(regionsOf(reached))}, but not ${every}: ${partialClauses(groups)}.`;
}

/** "dropped from eu-west and refused from ap-south": regions grouped by how, in the order given. */
function howText(views: readonly CellView[]): string {
  const groups = new Map<string, { phrase: string; regions: string[] }>();
  for (const v of views) {
    const group = groups.get(v.how);
    if (group) group.regions.push(v.cell.region);
    else groups.set(v.how, { phrase: v.howPhrase, regions: [v.cell.region] });
  }
  return phraseJoin([...groups.values()].map((g) => `${g.phrase} from ${listJoin(g.regions)}`));
}

function causesOf(views: readonly CellView[]): RegionCause[] {
  return views.map((v) => ({ region: v.cell.region, cause: v.how }));
}

function regionsOf(views: readonly CellView[]): string[] {
  return views.map((v) => v.cell.region);
}

/**
 * Whether the port can be reached, from where, and why not. Regions without an answer take no
 * part; regions blocked at their own egress say nothing about the target and are reported apart.
 */
function reachabilityVerdicts(port: number, column: readonly CellView[], regionCount: number): PortVerdict[] {
  const answered = column.filter((v) => v.cell.state !== CellState.CELL_STATE_NO_ANSWER);
  const egressBlocked = answered.filter((v) => v.egressBlocked);
  const testing = answered.filter((v) => !v.egressBlocked);
  const reached = testing.filter((v) => isReached(v.cell.state));
  const notReached = testing.filter((v) => !isReached(v.cell.state));
  const partial = partialGroups(reached);
  const verdicts: PortVerdict[] = [];
  const add = (
    kind: VerdictKind,
    severity: Severity,
    about: readonly CellView[],
    summary: string,
    extra: { causes?: RegionCause[]; failedAddresses?: AddressFailure[] } = {},
  ): void => {
    const causes = extra.causes ?? (kind === VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE ? [] : causesOf(about));
    verdicts.push({ port, kind, regions: regionsOf(about), causes, summary, severity, failedAddresses: extra.failedAddresses ?? [] });
  };

  if (answered.length === 0) {
    add(VerdictKind.VERDICT_KIND_NO_DATA, Severity.SEVERITY_WARNING, column, noDataSummary(port, column));
    return verdicts;
  }
  // "every region" only when every region planned could test the port.
  const everywhere = testing.length === regionCount;
  if (testing.length > 0 && notReached.length === 0 && partial.length > 0) {
    // Every region reached the port, not on every address: which failed, where and how.
    const partialViews = reached.filter((v) => v.cell.state === CellState.CELL_STATE_PARTIAL);
    add(VerdictKind.VERDICT_KIND_PARTIALLY_REACHABLE, Severity.SEVERITY_WARNING, partialViews, partialSummary(port, reached, partial), {
      causes: partial.flatMap((g) => g.regions.map((region) => ({ region, cause: g.failed }))),
      failedAddresses: failuresOf(partialViews),
    });
  } else if (testing.length > 0 && notReached.length === 0) {
    const names = listJoin(regionsOf(reached));
    const summary =
      regionCount === 1 && everywhere
        ? `Port ${port} is open from ${names}.`
        : everywhere
          ? `Port ${port} is open from every region: ${names}.`
          : reached.length === 1
            ? `Port ${port} is open from ${names}, the only region that could test it.`
            : `Port ${port} is open from every region that could test it: ${names}.`;
    add(VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, Severity.SEVERITY_INFO, reached, summary);
  } else if (reached.length > 0) {
    // The regions that reached it may have done so on some addresses only: said too.
    const alsoPartial = partial.length > 0 ? `; ${partialClauses(partial)}` : "";
    add(
      VerdictKind.VERDICT_KIND_BLOCKED_FROM_REGIONS,
      Severity.SEVERITY_WARNING,
      notReached,
      `Port ${port} is ${howText(notReached)}, open from ${listJoin(regionsOf(reached))}${alsoPartial}.`,
      { failedAddresses: failuresOf(testing) },
    );
  } else if (notReached.length > 0) {
    const from = testing.length === 1 ? "" : everywhere ? " from every region" : " from every region that could test it";
    add(
      VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
      Severity.SEVERITY_ERROR,
      notReached,
      `Port ${port} is unreachable${from}: ${howText(notReached)}.`,
      { failedAddresses: failuresOf(notReached) },
    );
  }
  if (egressBlocked.length > 0) {
    const names = listJoin(regionsOf(egressBlocked));
    const several = egressBlocked.length > 1;
    verdicts.push({
      port,
      kind: VerdictKind.VERDICT_KIND_AGENT_EGRESS_BLOCKED,
      regions: regionsOf(egressBlocked),
      causes: egressBlocked.map((v) => ({ region: v.cell.region, cause: egressCause(v) })),
      summary:
        `Port ${port}: the agents in ${names} cannot reach their own ${several ? "canaries" : "canary"} on port ${port} either: ` +
        `outbound ${port} is blocked at the ${several ? "agents'" : "agent's"} side, not by the target.`,
      severity: Severity.SEVERITY_WARNING,
      failedAddresses: [],
    });
  }
  return verdicts;
}

function egressCause(v: CellView): string {
  const canary = v.task?.egress?.canary;
  return `${v.how}, and ${canary ? `the canary ${canary}` : "the agent's own canary"} fails too`;
}

function noDataSummary(port: number, column: readonly CellView[]): string {
  if (column.length === 0) return `Port ${port}: no region was probed.`;
  const groups = new Map<string, string[]>();
  for (const v of column) groups.set(v.cell.cause, [...(groups.get(v.cell.cause) ?? []), v.cell.region]);
  const why = listJoin([...groups].map(([cause, regions]) => `${cause} in ${listJoin(regions)}`));
  return `Port ${port}: no region answered (${why}).`;
}

/**
 * One entry for a region that did not answer on some port: its cause once ("no agent") when the
 * same on every port, else each cause with its ports ("agent lost on port 25; no result in time on
 * port 587").
 */
function missingCause(region: string, row: readonly CellView[]): RegionCause[] {
  const silent = row.filter((v) => v.cell.state === CellState.CELL_STATE_NO_ANSWER);
  if (silent.length === 0) return [];
  const byCause = new Map<string, number[]>();
  for (const v of silent) byCause.set(v.cell.cause, [...(byCause.get(v.cell.cause) ?? []), v.cell.port]);
  const [only] = byCause.keys();
  if (byCause.size === 1 && silent.length === row.length && only !== undefined) return [{ region, cause: only }];
  return [{ region, cause: [...byCause].map(([cause, ports]) => `${cause} on ${portsText(ports)}`).join("; ") }];
}

/**
 * A matrix cell in a few words for a person, no colours: "✔ 120 ms TLSv1.3", "✔ 95 ms no TLS",
 * "◐ v4 ok, v6 refused", "✖ dropped", "✖ banner 554", "– no agent".
 */
export function describeCell(cell: MatrixCell): string {
  switch (cell.state) {
    case CellState.CELL_STATE_REACHED:
      return `✔ ${formatCellMs(cell.totalMs)} ${cell.tlsVersion || "no TLS"}`;
    case CellState.CELL_STATE_PARTIAL:
      return `◐ ${cell.cause || "partly reached"}`;
    case CellState.CELL_STATE_NO_ANSWER:
      return `– ${cell.cause || "no answer"}`;
    case CellState.CELL_STATE_UNSPECIFIED:
      return "?";
    default:
      return `✖ ${cell.cause || "failed"}`;
  }
}
