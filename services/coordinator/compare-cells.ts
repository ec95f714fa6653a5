// One cell of the region × port matrix: what one region saw on one port, reduced to a state and a
// short cause, with every address (of every exchanger) it probed beside it. Pure.
//
// Every address counts: a cell is REACHED only when every address tried answered, PARTIAL when some
// did and others failed. Addresses our side never really tried (throttled, cancelled, our own
// error) are listed but count neither way: they say nothing about the target.
import { isIP } from "node:net";
import { AddressFamily, type HandshakeResult, Outcome, Phase, type TargetResult } from "../../gen/smtpprobe/v1/handshake.js";
import { phaseLabel } from "../../agents/smtp/phases.js";
import { type AddressCell, CellState, type MatrixCell, TaskReport, TaskStatus } from "../../gen/smtpprobe/v1/probe_service.js";
import { partialCause } from "./compare-partial.js";

/** One address's cell with how it failed, for the verdicts' sentences. */
export interface AddressView {
  readonly cell: AddressCell;
  /** As CellView.how. */
  readonly how: string;
  /** As CellView.howPhrase. */
  readonly howPhrase: string;
}

/** A cell with what the verdicts need beside it. */
export interface CellView {
  readonly cell: MatrixCell;
  /** The task the cell comes from, when there is one. */
  readonly task: TaskReport | undefined;
  /** How the target failed this region, as a verdict names it: "dropped", "banner rejected 554". */
  readonly how: string;
  /** The same for a sentence, before "from <regions>": "dropped", "rejected at the banner with 554". */
  readonly howPhrase: string;
  /** BLOCKED, and the agent's own canary on this port fails too: the block is on the agent's side. */
  readonly egressBlocked: boolean;
  /** Every handshake of the cell, in the result's order (cell.addresses, with how each failed). */
  readonly addresses: readonly AddressView[];
}

/** The caller's deadline ended it: no data about the target (a task status, or a handshake's outcome). */
export const CALLER_DEADLINE_CAUSE = "cut short by the caller's deadline";

const NO_ANSWER_CAUSES: Readonly<Record<number, string>> = {
  [TaskStatus.TASK_STATUS_UNSPECIFIED]: "no report",
  [TaskStatus.TASK_STATUS_PENDING]: "pending",
  [TaskStatus.TASK_STATUS_NO_AGENT]: "no agent",
  [TaskStatus.TASK_STATUS_AGENT_LOST]: "agent lost",
  [TaskStatus.TASK_STATUS_TIMED_OUT]: "no result in time",
  [TaskStatus.TASK_STATUS_INVALID_REPORT]: "invalid report",
  [TaskStatus.TASK_STATUS_CANCELLED]: "cancelled",
  [TaskStatus.TASK_STATUS_AGENT_ERROR]: "agent error",
  [TaskStatus.TASK_STATUS_UNKNOWN_REGION]: "unknown region",
  [TaskStatus.TASK_STATUS_CALLER_DEADLINE]: CALLER_DEADLINE_CAUSE,
};

/**
 * Of several handshakes that failed (several addresses, several MX exchangers), the one that tells
 * most: failures of our own (cancelled, internal) last, then the one that got furthest, then at the
 * same phase an active answer (refused, rejected) before silence (dropped) before no route at all —
 * an IPv6 address unreachable from an agent without IPv6 says less than the IPv4 one being dropped.
 */
const OUTCOME_WEIGHT: Readonly<Record<number, number>> = {
  [Outcome.OUTCOME_REJECTED]: 7,
  [Outcome.OUTCOME_REFUSED]: 7,
  [Outcome.OUTCOME_DEFERRED]: 6,
  [Outcome.OUTCOME_RESET]: 6,
  [Outcome.OUTCOME_TIMED_OUT]: 5,
  [Outcome.OUTCOME_DEADLINE_EXCEEDED]: 3,
  [Outcome.OUTCOME_UNREACHABLE]: 2,
};

function isOwnFailure(outcome: Outcome): boolean {
  return (
    outcome === Outcome.OUTCOME_CANCELLED ||
    outcome === Outcome.OUTCOME_CALLER_DEADLINE ||
    outcome === Outcome.OUTCOME_THROTTLED ||
    outcome === Outcome.OUTCOME_INTERNAL_ERROR ||
    outcome === Outcome.OUTCOME_UNSPECIFIED ||
    outcome === Outcome.UNRECOGNIZED
  );
}

/** What the choice of a cell's representative looks at: a HandshakeResult or an AddressCell. */
interface Ended {
  readonly outcome: Outcome;
  readonly phase: Phase;
}

function tellingRank(h: Ended): readonly number[] {
  return [isOwnFailure(h.outcome) ? 0 : 1, h.phase, OUTCOME_WEIGHT[h.outcome] ?? 4];
}

function isMoreTelling(a: Ended, b: Ended): boolean {
  const ra = tellingRank(a);
  const rb = tellingRank(b);
  for (let i = 0; i < ra.length; i++) {
    const x = ra[i] ?? 0;
    const y = rb[i] ?? 0;
    if (x !== y) return x > y;
  }
  return false; // a tie keeps the earlier one
}

/**
 * The handshake whose time, TLS version and (when none reached QUIT) cause a cell shows: the first
 * that reached QUIT, else the most telling failure. Whether the cell is REACHED or PARTIAL is
 * decided by every handshake (summarizeAddresses), not by this one.
 */
export function representativeHandshake<T extends Ended>(handshakes: readonly T[]): T | undefined {
  const ok = handshakes.find((h) => h.outcome === Outcome.OUTCOME_OK);
  if (ok) return ok;
  let best: T | undefined;
  for (const h of handshakes) if (!best || isMoreTelling(h, best)) best = h;
  return best;
}

/**
 * An address that counts against the target: tried, and failed (refused, dropped, rejected, TLS
 * failed, DNS failed, denied by policy, ...). Not one that reached QUIT, nor one our side never
 * really tried (throttled, cancelled, our own error, the caller's deadline).
 */
export function countsAgainstTarget(a: AddressCell): boolean {
  return a.state !== CellState.CELL_STATE_REACHED && a.state !== CellState.CELL_STATE_NO_ANSWER && !isOwnFailure(a.outcome);
}

export function familyOf(address: string): AddressFamily {
  const version = isIP(address);
  return version === 4 ? AddressFamily.ADDRESS_FAMILY_IPV4 : version === 6 ? AddressFamily.ADDRESS_FAMILY_IPV6 : AddressFamily.ADDRESS_FAMILY_UNSPECIFIED;
}

/** One handshake as an address of a cell. */
export function addressViewOf(h: HandshakeResult): AddressView {
  const { state, cause, how, howPhrase } = classifyHandshake(h);
  return {
    cell: {
      host: h.host,
      exchange: h.exchange,
      mxPreference: h.mxPreference,
      address: h.address,
      family: familyOf(h.address),
      state,
      cause,
      outcome: h.outcome,
      phase: h.phase,
      totalMs: h.totalMs,
      tlsVersion: h.tls?.protocol ?? "",
    },
    how,
    howPhrase,
  };
}

/** What a cell shows, from its addresses: the representative's, or PARTIAL when some reached and others failed. */
export interface CellSummary {
  state: CellState;
  cause: string;
  /** The address the cell's outcome, phase, time and TLS version come from. */
  representative: AddressCell;
}

export function summarizeAddresses(addresses: readonly AddressCell[]): CellSummary | undefined {
  const representative = representativeHandshake(addresses);
  if (!representative) return undefined;
  const failed = addresses.filter(countsAgainstTarget);
  if (representative.state !== CellState.CELL_STATE_REACHED || failed.length === 0) {
    return { state: representative.state, cause: representative.cause, representative };
  }
  const reached = addresses.filter((a) => a.state === CellState.CELL_STATE_REACHED);
  return { state: CellState.CELL_STATE_PARTIAL, cause: partialCause(reached, failed), representative };
}

/**
 * The cell as seen on one address family, for a matrix drawn per family: the family's addresses,
 * and the names that failed before an address (DNS, policy), which concern both. Undefined when
 * the cell has addresses, none of this family. A cell without any address (no answer, a name that
 * did not resolve) is the same in both families.
 */
export function familyCell(cell: MatrixCell, family: AddressFamily): MatrixCell | undefined {
  const addressed = cell.addresses.filter((a) => a.family !== AddressFamily.ADDRESS_FAMILY_UNSPECIFIED);
  if (addressed.length === 0) return cell;
  if (!addressed.some((a) => a.family === family)) return undefined;
  const addresses = cell.addresses.filter((a) => a.family === family || a.family === AddressFamily.ADDRESS_FAMILY_UNSPECIFIED);
  const summary = summarizeAddresses(addresses);
  if (!summary) return cell;
  const { representative: r } = summary;
  const egress = cell.cause.endsWith(AGENT_EGRESS_MARK) && summary.state === CellState.CELL_STATE_BLOCKED;
  return {
    ...cell,
    state: summary.state,
    cause: egress ? `${summary.cause}${AGENT_EGRESS_MARK}` : summary.cause,
    outcome: r.outcome,
    phase: r.phase,
    totalMs: r.totalMs,
    tlsVersion: r.tlsVersion,
    addresses,
  };
}

/** Appended to a blocked cell's cause when the agent's own canary fails too. */
const AGENT_EGRESS_MARK = " (agent egress)";

/** The reply code that ended the dialogue, when there was one. */
function replyCode(h: HandshakeResult): number | undefined {
  const code = h.lastReply?.code ?? (h.phase === Phase.PHASE_BANNER ? h.banner?.code : undefined);
  return code ? code : undefined;
}

interface Classified {
  state: CellState;
  cause: string;
  how: string;
  howPhrase: string;
}

function same(state: CellState, cause: string): Classified {
  return { state, cause, how: cause, howPhrase: cause };
}

/** A handshake's state and cause in the matrix. */
export function classifyHandshake(h: HandshakeResult): Classified {
  const atConnect = h.phase === Phase.PHASE_CONNECT;
  switch (h.outcome) {
    case Outcome.OUTCOME_OK:
      return same(CellState.CELL_STATE_REACHED, "");
    case Outcome.OUTCOME_REFUSED:
      return same(CellState.CELL_STATE_BLOCKED, "refused");
    case Outcome.OUTCOME_UNREACHABLE:
      return same(CellState.CELL_STATE_BLOCKED, "unreachable");
    case Outcome.OUTCOME_DNS_FAILED:
      return { state: CellState.CELL_STATE_DNS_FAILED, cause: "DNS failed", how: "DNS failed", howPhrase: "not resolvable" };
    case Outcome.OUTCOME_POLICY_DENIED:
      return {
        state: CellState.CELL_STATE_POLICY_DENIED,
        cause: "policy denied",
        how: "policy denied",
        howPhrase: "denied by the agents' target policy",
      };
    case Outcome.OUTCOME_THROTTLED:
      // Not tried (the per-destination throttle had no slot in time): no data, never "blocked".
      return { state: CellState.CELL_STATE_NO_ANSWER, cause: "throttled", how: "throttled", howPhrase: "throttled" };
    case Outcome.OUTCOME_CALLER_DEADLINE:
      // The caller stopped waiting: says nothing about the target, never "blocked" nor "failed".
      return same(CellState.CELL_STATE_NO_ANSWER, CALLER_DEADLINE_CAUSE);
  }
  if (atConnect) {
    // A SYN that nobody answers: a firewall dropping it. A deadline that ends the probe while it
    // is still connecting means the same thing, seen from a shorter clock.
    if (h.outcome === Outcome.OUTCOME_TIMED_OUT || h.outcome === Outcome.OUTCOME_DEADLINE_EXCEEDED) {
      return same(CellState.CELL_STATE_BLOCKED, "dropped");
    }
    if (h.outcome === Outcome.OUTCOME_RESET) return same(CellState.CELL_STATE_BLOCKED, "reset");
  }
  const rejected = h.outcome === Outcome.OUTCOME_REJECTED;
  const deferred = h.outcome === Outcome.OUTCOME_DEFERRED;
  if ((rejected || deferred) && h.phase === Phase.PHASE_BANNER) {
    const code = replyCode(h);
    const verb = rejected ? "rejected" : "deferred";
    return {
      state: CellState.CELL_STATE_REJECTED,
      cause: code ? `banner ${code}` : `banner ${verb}`,
      how: code ? `banner ${verb} ${code}` : `banner ${verb}`,
      howPhrase: code ? `${verb} at the banner with ${code}` : `${verb} at the banner`,
    };
  }
  const cause = failureCause(h);
  return { state: CellState.CELL_STATE_FAILED, cause, how: cause, howPhrase: `failing (${cause})` };
}

/** A short cause for a failure after connecting: "TLS failed", "timed out at banner", "EHLO 550". */
function failureCause(h: HandshakeResult): string {
  const at = phaseLabel(h.phase);
  switch (h.outcome) {
    case Outcome.OUTCOME_REJECTED:
    case Outcome.OUTCOME_DEFERRED: {
      const code = replyCode(h);
      return code ? `${at} ${code}` : `${h.outcome === Outcome.OUTCOME_REJECTED ? "rejected" : "deferred"} at ${at}`;
    }
    case Outcome.OUTCOME_TIMED_OUT:
      return `timed out at ${at}`;
    case Outcome.OUTCOME_RESET:
      return `reset at ${at}`;
    case Outcome.OUTCOME_CLOSED_BY_PEER:
      return `closed at ${at}`;
    case Outcome.OUTCOME_PROTOCOL_ERROR:
      return `protocol error at ${at}`;
    case Outcome.OUTCOME_TLS_FAILED:
      return "TLS failed";
    case Outcome.OUTCOME_STARTTLS_UNAVAILABLE:
      return "STARTTLS unavailable";
    case Outcome.OUTCOME_NO_BANNER:
      return "no banner";
    case Outcome.OUTCOME_GREETING_REFUSED: {
      const code = replyCode(h);
      return code ? `greeting refused ${code}` : "greeting refused";
    }
    case Outcome.OUTCOME_DEADLINE_EXCEEDED:
      return `deadline at ${at}`;
    case Outcome.OUTCOME_CANCELLED:
      return "cancelled";
    case Outcome.OUTCOME_INTERNAL_ERROR:
      return "internal error";
    case Outcome.OUTCOME_THROTTLED:
      return "throttled";
    default:
      return `unknown outcome at ${at}`;
  }
}

/** The agent's canary on this port failed: outbound traffic on the port is blocked at its side. */
function hasFailingCanary(task: TaskReport | undefined, port: number): boolean {
  const egress = task?.egress;
  return egress !== undefined && !egress.ok && (egress.port === 0 || egress.port === port);
}

function noAnswer(region: string, port: number, task: TaskReport | undefined, cause: string): CellView {
  return {
    cell: {
      region,
      port,
      state: CellState.CELL_STATE_NO_ANSWER,
      cause,
      outcome: Outcome.OUTCOME_UNSPECIFIED,
      phase: Phase.PHASE_UNSPECIFIED,
      totalMs: 0,
      tlsVersion: "",
      taskStatus: task?.status ?? TaskStatus.TASK_STATUS_UNSPECIFIED,
      addresses: [],
    },
    task,
    how: cause,
    howPhrase: cause,
    egressBlocked: false,
    addresses: [],
  };
}

/** The cell of one region and port, from its task report (undefined: no report at all). */
export function buildCell(region: string, port: number, task: TaskReport | undefined): CellView {
  if (!task) return noAnswer(region, port, task, NO_ANSWER_CAUSES[TaskStatus.TASK_STATUS_UNSPECIFIED] ?? "no report");
  if (task.status !== TaskStatus.TASK_STATUS_DONE) {
    return noAnswer(region, port, task, NO_ANSWER_CAUSES[task.status] ?? "no answer");
  }
  const addresses = (task.result?.handshakes ?? []).map(addressViewOf);
  const summary = summarizeAddresses(addresses.map((a) => a.cell));
  // DONE with nothing in it: the coordinator's validation should have caught it; no data either way.
  if (!summary) return noAnswer(region, port, task, "empty result");
  const { state, cause, representative: r } = summary;
  const partial = state === CellState.CELL_STATE_PARTIAL;
  const view = addresses.find((a) => a.cell === r);
  const egressBlocked = state === CellState.CELL_STATE_BLOCKED && hasFailingCanary(task, port);
  return {
    cell: {
      region,
      port,
      state,
      cause: egressBlocked ? `${cause}${AGENT_EGRESS_MARK}` : cause,
      outcome: r.outcome,
      phase: r.phase,
      totalMs: r.totalMs,
      tlsVersion: r.tlsVersion,
      taskStatus: task.status,
      addresses: addresses.map((a) => a.cell),
    },
    task,
    how: partial ? cause : (view?.how ?? cause),
    howPhrase: partial ? cause : (view?.howPhrase ?? cause),
    egressBlocked,
    addresses,
  };
}

/**
 * The cell of one result, as the comparison would make it for a region that reported it: for a
 * caller with results in hand and no report (the CLI's local mode).
 */
export function resultCell(result: TargetResult, region = ""): MatrixCell {
  return buildCell(region, result.port, { ...TaskReport.fromPartial({ region, port: result.port, status: TaskStatus.TASK_STATUS_DONE }), result }).cell;
}

/**
 * The report for one region and port: a DONE one when there are several (a retry that also
 * answered), else the last one given.
 */
export function pickTask(candidates: readonly TaskReport[]): TaskReport | undefined {
  return candidates.find((t) => t.status === TaskStatus.TASK_STATUS_DONE) ?? candidates[candidates.length - 1];
}
