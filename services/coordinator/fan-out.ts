// The coordinator's dispatch: one task per (region, port) over the bus, each followed until it
// ends — result, agent error, no agent, lost agent (retried once when time allows), deadline,
// cancellation or a lost NATS connection. Every way a region can fail to answer is an outcome in
// its TaskReport, never an exception: the caller always gets one report per task, by the deadline.
//
// Decisions where the design is silent:
// - The heartbeat watch starts when the task is sent, not at the agent's first message: an agent
//   that takes a task and dies before saying anything is noticed as fast as one that dies later.
//   Agents send their first progress (queued or not) 100 ms after they take a task, unless its
//   result comes first (agents/probe/task-run.ts, QUIET_START_MS): well within the watch.
// - A retry sends no CancelTask for the lost attempt: CancelTask names the task, not the attempt,
//   and would stop the retry at its new agent. The lost agent's late replies go to a reply subject
//   nobody listens to any more. Tasks that end lost, timed out or cancelled do get a CancelTask.
// - Each attempt has its own reply subject, so a message on it comes from that attempt's agent;
//   the first valid agent id seen there takes the task, and other ids are ignored.
// - A progress that fails validation is not shown to the caller but still counts as a heartbeat.
// - A deadline that is the caller's (ProbePlan.deadlineFromCaller: its gRPC deadline came before
//   the request's deadline_ms) ends the tasks it cuts short as CALLER_DEADLINE, never TIMED_OUT,
//   and each task tells its agent so (Task.deadline_from_caller), so that a result the deadline
//   ended says OUTCOME_CALLER_DEADLINE rather than blaming the target.
// - A region nobody answers for is NO_AGENT when an agent has served it before (its agents went
//   away: an outage), UNKNOWN_REGION when none ever has (ProbePlan.servedRegions: a misspelt name),
//   whose detail lists the live regions.
// - What the coordinator accepts from an agent (docs/security.md): only on the reply subject of the
//   attempt it sent (the bus hands nothing else here; it counts replies to subjects nobody listens
//   to, see connectNatsBus's onDroppedReply), only about that attempt's task, only from the agent
//   that took it, only until the task has ended (its deadline included), only up to
//   AGENT_MESSAGE_LIMITS.maxMessageBytes, checked before decoding, and only within the bounds of
//   validate-agent-message.ts. Every message dropped is counted in
//   smtpprobe_agent_messages_dropped_total by reason.
import { isIP } from "node:net";
import { BUS_HEADERS, SUBJECTS, checkToken, type Bus, type BusSubscription, type ReplyEvent } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { timerDelay } from "../../lib/timers.js";
import { metrics, type DroppedMessageReason } from "../../lib/metrics.js";
import { phaseNames } from "../../agents/smtp/phases.js";
import { Phase, TlsMode, type ProbeOptions, type TargetResult } from "../../gen/smtpprobe/v1/handshake.js";
import { TaskStatus, type AgentInfo, type EgressCheck, type TaskProgress, type TaskReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { CancelTask, Task, type AgentMessage } from "../../gen/smtpprobe/agent/v1/agent.js";
import { AGENT_MESSAGE_LIMITS, agentErrorText, checkAgentId, checkTargetResult, checkTaskProgress, decodeAgentMessage } from "./validate-agent-message.js";
import { isPort } from "../../lib/host-name.js";

/**
 * One port of the probe and the options its tasks carry, exactly as they go to the agents: the
 * TLS mode in them is final (validate-request.ts decides it), so no agent has to pick one.
 */
export interface PlanTarget {
  port: number;
  options: ProbeOptions;
}

/** What to dispatch: the request as accepted, with the regions picked. */
export interface ProbePlan {
  probeId: string;
  host: string;
  mx: boolean;
  /** Each port once, in the order its reports come. */
  targets: readonly PlanTarget[];
  regions: string[];
  /** The probe's deadline, `Date.now()` milliseconds: every task has ended by then. */
  deadlineAt: number;
  /** deadlineAt is the caller's gRPC deadline, not the request's deadline_ms (probe-deadline.ts). */
  deadlineFromCaller?: boolean;
  /**
   * Every region an agent has ever served (region-directory.ts): a region outside it that nobody
   * answers for is UNKNOWN_REGION. Undefined: every such region is NO_AGENT.
   */
  servedRegions?: ReadonlySet<string>;
  /** The regions with a live agent now, named in an UNKNOWN_REGION's detail. */
  liveRegions?: readonly string[];
  /** How often agents send a heartbeat; default 1000 ms. */
  heartbeatMs?: number;
  /** W3C traceparent of the probe's span, sent to the agents in each task's headers. */
  traceparent?: string;
}

/**
 * Permits granted with a task (permit-service.ts): a task to an IP literal carries the permit for
 * its one connection, so the agent connects without a round trip to the throttle.
 */
export interface TaskPermits {
  /** A lease id when a slot is free now, else undefined (the agent asks as usual). */
  grantWithTask(address: string, deadline: Date): string | undefined;
  releaseTaskLease(leaseId: string): void;
}

export type DispatchEvent = { kind: "progress"; progress: TaskProgress } | { kind: "task"; report: TaskReport };

export interface DispatchDeps {
  bus: Bus;
  logger: Logger;
  /** Aborts when the caller goes away: unfinished tasks are cancelled at the agents. */
  signal?: AbortSignal;
  /** Progress as it comes, and each task's report once, as it ends. */
  onEvent?: (event: DispatchEvent) => void;
  /** Undefined: agents ask for every permit. */
  permits?: TaskPermits;
}

export const DEFAULT_HEARTBEAT_MS = 1000;
/** A lost agent's task is sent once more, to another agent of the region. */
export const MAX_ATTEMPTS = 2;
/** At most this much of the time left is kept back from the agent's deadline for the reply's trip. */
export const MAX_DEADLINE_MARGIN_MS = 250;
export const NATS_LOST_DETAIL = "the coordinator lost its connection to NATS";

/** A plan the caller should have rejected: a bug on our side, not a region's outcome. */
export class InvalidPlanError extends Error {
  override readonly name = "InvalidPlanError";
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid probe plan: ${reason}`, options);
  }
}

export function taskIdFor(probeId: string, region: string, port: number): string {
  return `${probeId}.${region}.${port}`;
}

/**
 * When the agent must give up: a little before the caller's deadline (a fifth of the time left,
 * at most MAX_DEADLINE_MARGIN_MS), so that its result travels back before the deadline passes.
 */
export function agentDeadlineAt(deadlineAt: number, now: number): number {
  const margin = Math.min(MAX_DEADLINE_MARGIN_MS, Math.max(0, (deadlineAt - now) / 5));
  return Math.floor(deadlineAt - margin);
}

/** A retry is worth sending only with this much time left: a few heartbeats and a short probe. */
export function retryBudgetMs(heartbeatMs: number): number {
  return Math.max(1000, 2 * heartbeatMs);
}

/** Dispatches the plan's tasks and resolves with one report per task, regions then ports. */
export async function dispatchProbe(plan: ProbePlan, deps: DispatchDeps): Promise<TaskReport[]> {
  return new ProbeDispatch(plan, deps).run();
}

/**
 * Sets each report's egress from the canary check, on the report's port, of the agent that ran
 * it; when that agent is unknown (no agent, or gone from discovery), the latest check on that port
 * of any agent of the region. And the egress address's reading of the agent that ran it (that
 * agent's only: another agent of the region may leave from another address). Mutates the reports
 * and returns the same array.
 */
export function attachEgress(reports: TaskReport[], agents: readonly AgentInfo[]): TaskReport[] {
  for (const report of reports) {
    const own = report.agentId === "" ? undefined : agents.find((a) => a.agentId === report.agentId);
    const check = own
      ? own.egress.find((e) => e.port === report.port)
      : latestCheck(agents.filter((a) => a.region === report.region).flatMap((a) => a.egress.filter((e) => e.port === report.port)));
    if (check) report.egress = check;
    if (own?.egressPosture) report.agentEgressPosture = own.egressPosture;
  }
  return reports;
}

function latestCheck(checks: EgressCheck[]): EgressCheck | undefined {
  let latest: EgressCheck | undefined;
  for (const check of checks) {
    if (!latest || (check.checkedAt?.getTime() ?? 0) > (latest.checkedAt?.getTime() ?? 0)) latest = check;
  }
  return latest;
}

/** One (region, port) task and its current attempt. */
interface TaskDispatch {
  readonly taskId: string;
  readonly region: string;
  readonly port: number;
  /** The target's options, TLS mode included, as the task carries them. */
  readonly options: ProbeOptions;
  attempt: number;
  startedAt: number;
  sub?: BusSubscription;
  lostTimer?: NodeJS.Timeout;
  /** The agent that took the current attempt: its first message names it. */
  agentId: string;
  lastPhase?: Phase;
  queued: boolean;
  /** How the previous attempt was lost, for the report of a retry that fails too. */
  previousLoss?: string;
  /** The permit granted with the first attempt, if any. */
  leaseId?: string;
  report?: TaskReport;
  log?: Logger;
}

class ProbeDispatch {
  private readonly tasks: TaskDispatch[];
  private readonly heartbeatMs: number;
  private readonly lostAfterMs: number;
  private readonly log: Logger;
  private readonly cleanups: (() => void)[] = [];
  private unfinished: number;
  private resolve: (reports: TaskReport[]) => void = () => undefined;
  /** The probe's id and trace context, so that the agents' log lines carry them. */
  private readonly headers: Record<string, string>;

  constructor(
    private readonly plan: ProbePlan,
    private readonly deps: DispatchDeps,
  ) {
    checkPlan(plan);
    this.heartbeatMs = plan.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    // An agent silent for 3 heartbeats is lost.
    this.lostAfterMs = 3 * this.heartbeatMs;
    // The caller's logger may carry the probe id already (probe-service.ts); a key twice would print twice.
    this.log = deps.logger.bindings().probeId === plan.probeId ? deps.logger : deps.logger.child({ probeId: plan.probeId });
    this.headers = { [BUS_HEADERS.probeId]: plan.probeId, ...(plan.traceparent ? { [BUS_HEADERS.traceparent]: plan.traceparent } : {}) };
    const startedAt = Date.now();
    this.tasks = plan.regions.flatMap((region) =>
      plan.targets.map(({ port, options }) => ({ taskId: taskIdFor(plan.probeId, region, port), region, port, options, attempt: 0, startedAt, agentId: "", queued: false })),
    );
    this.unfinished = this.tasks.length;
  }

  run(): Promise<TaskReport[]> {
    const done = new Promise<TaskReport[]>((resolve) => (this.resolve = resolve));
    if (this.tasks.length === 0) {
      this.complete();
      return done;
    }
    const { signal, bus } = this.deps;
    if (signal?.aborted) {
      // Nothing was sent, so there is nothing to cancel at the agents.
      for (const task of this.tasks) this.finish(task, TaskStatus.TASK_STATUS_CANCELLED, "the caller cancelled the probe");
      return done;
    }
    if (!bus.isConnected()) {
      for (const task of this.tasks) this.finish(task, TaskStatus.TASK_STATUS_AGENT_LOST, NATS_LOST_DETAIL);
      return done;
    }
    const untilDeadline = this.plan.deadlineAt - Date.now();
    if (untilDeadline <= 0) {
      for (const task of this.tasks) this.finish(task, this.deadlineStatus, `${this.deadlineName} had passed before the task was sent`);
      return done;
    }

    // setTimeout takes at most 2^31-1 ms (a longer delay fires at once); deadlines are far shorter.
    const deadlineTimer = setTimeout(() => this.onDeadline(), timerDelay(untilDeadline));
    this.cleanups.push(() => clearTimeout(deadlineTimer));
    if (signal) {
      const onAbort = (): void => this.onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.cleanups.push(() => signal.removeEventListener("abort", onAbort));
    }
    const removeListener = bus.onConnectionChange((connected) => {
      if (!connected) this.onConnectionLost();
    });
    this.cleanups.push(removeListener);

    this.log.debug({ tasks: this.tasks.length, deadlineInMs: untilDeadline }, "dispatching tasks");
    for (const task of this.tasks) {
      if (this.unfinished === 0) break;
      this.send(task);
    }
    return done;
  }

  /** Sends the task's next attempt on a fresh reply subject, and starts watching for heartbeats. */
  private send(task: TaskDispatch): void {
    task.attempt += 1;
    task.agentId = "";
    task.lastPhase = undefined;
    task.queued = false;
    const attempt = task.attempt;
    const deadline = new Date(agentDeadlineAt(this.plan.deadlineAt, Date.now()));
    // Only the first attempt: a retry's agent asks, while the lost attempt's lease runs out.
    if (attempt === 1 && this.deps.permits && !this.plan.mx && isIP(this.plan.host) !== 0) {
      task.leaseId = this.deps.permits.grantWithTask(this.plan.host, deadline);
    }
    const message: Task = {
      taskId: task.taskId,
      probeId: this.plan.probeId,
      region: task.region,
      host: this.plan.host,
      mx: this.plan.mx,
      port: task.port,
      options: task.options,
      deadline,
      attempt,
      heartbeatMs: this.heartbeatMs,
      deadlineFromCaller: this.plan.deadlineFromCaller ?? false,
      permitLeaseId: attempt === 1 ? (task.leaseId ?? "") : "",
    };
    if (task.lostTimer) clearTimeout(task.lostTimer);
    task.lostTimer = setTimeout(() => this.onSilence(task), this.lostAfterMs);
    let sub: BusSubscription;
    try {
      sub = this.deps.bus.request(SUBJECTS.task(task.region), Task.encode(message).finish(), (event) => this.onReply(task, attempt, event), { headers: this.headers });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.finish(task, TaskStatus.TASK_STATUS_AGENT_LOST, `the coordinator could not send the task over NATS: ${reason}`);
      return;
    }
    if (task.report) sub.unsubscribe();
    else task.sub = sub;
  }

  private onReply(task: TaskDispatch, attempt: number, event: ReplyEvent): void {
    if (task.report || attempt !== task.attempt) {
      if (event.kind === "message") dropped("late");
      return;
    }
    const log = (): Logger => (task.log ??= this.log.child({ region: task.region, port: task.port, taskId: task.taskId }));
    if (event.kind === "no_responders") {
      if (attempt === 1) this.finishUnserved(task);
      else this.finish(task, TaskStatus.TASK_STATUS_AGENT_LOST, `${task.previousLoss}, and no other agent of region ${task.region} was there to retry on`);
      return;
    }
    // Measured before decoding: the decoder's work and memory grow with the message.
    if (event.data.length > AGENT_MESSAGE_LIMITS.maxMessageBytes) {
      dropped("too_large");
      this.finish(
        task,
        TaskStatus.TASK_STATUS_INVALID_REPORT,
        `${this.agentName(task)} sent a message of ${event.data.length} bytes (limit ${AGENT_MESSAGE_LIMITS.maxMessageBytes})`,
      );
      return;
    }
    const decoded = decodeAgentMessage(event.data);
    if (!decoded.ok) {
      dropped("undecodable");
      this.finish(task, TaskStatus.TASK_STATUS_INVALID_REPORT, `${this.agentName(task)} sent a message that is not valid: ${decoded.reason}`);
      return;
    }
    const message = decoded.message;
    if (message.taskId !== task.taskId) {
      // The reply subject is this attempt's, so a message about another task is a forgery or a
      // confused agent: it must not end, or speak for, either task.
      dropped("other_task");
      log().warn({ otherTaskId: message.taskId.slice(0, 200) }, "ignored an agent message about another task");
      return;
    }
    if (task.agentId !== "" && message.agentId !== task.agentId) {
      dropped("other_agent");
      log().warn({ agentId: task.agentId, otherAgentId: message.agentId.slice(0, 200) }, "ignored a message from an agent that did not take the task");
      return;
    }
    if (task.agentId === "") {
      const invalidId = checkAgentId(message.agentId);
      if (invalidId) {
        dropped("invalid");
        this.finish(task, TaskStatus.TASK_STATUS_INVALID_REPORT, `the agent's message is not valid: ${invalidId}`);
        return;
      }
      task.agentId = message.agentId;
      if (this.log.isLevelEnabled("debug")) log().debug({ agentId: task.agentId, attempt }, "an agent took the task");
    }
    task.lostTimer?.refresh(); // any message from the task's agent is a heartbeat
    this.onAgentMessage(task, message, log);
  }

  private onAgentMessage(task: TaskDispatch, message: AgentMessage, log: () => Logger): void {
    if (message.result) {
      const invalid = checkTargetResult(message.result, { host: this.plan.host, port: task.port, mx: this.plan.mx });
      if (invalid) {
        dropped("invalid");
        log().warn({ agentId: task.agentId, reason: invalid }, "an agent's result failed validation");
        this.finish(task, TaskStatus.TASK_STATUS_INVALID_REPORT, `agent ${task.agentId} sent a result that failed validation: ${invalid}`);
      } else {
        this.finish(task, TaskStatus.TASK_STATUS_DONE, "", message.result);
      }
    } else if (message.error !== undefined) {
      this.finish(task, TaskStatus.TASK_STATUS_AGENT_ERROR, agentErrorText(message.error));
    } else if (message.progress) {
      const invalid = checkTaskProgress(message.progress);
      if (invalid) {
        // Still a heartbeat: the agent is alive, its progress is just not shown.
        dropped("invalid");
        log().warn({ agentId: task.agentId, reason: invalid }, "ignored an agent's progress that failed validation");
        return;
      }
      task.lastPhase = message.progress.phase;
      task.queued = message.progress.queued;
      // Built from what we know, not echoed: the task's own id, region and port.
      this.emit({
        kind: "progress",
        progress: {
          taskId: task.taskId,
          region: task.region,
          port: task.port,
          agentId: task.agentId,
          phase: message.progress.phase,
          host: message.progress.host,
          address: message.progress.address,
          queued: message.progress.queued,
        },
      });
    }
    // A message with no body we know (a newer contract) counts as a heartbeat only.
  }

  /** No message from the task's agent for lostAfterMs: retry once if time allows, else lost. */
  private onSilence(task: TaskDispatch): void {
    if (task.report) return;
    const loss =
      task.agentId === ""
        ? `the agent of region ${task.region} that took the task sent nothing for ${this.lostAfterMs} ms`
        : `agent ${task.agentId} stopped sending heartbeats (last phase seen: ${this.lastSeen(task)})`;
    const timeLeft = this.plan.deadlineAt - Date.now();
    if (task.attempt < MAX_ATTEMPTS && timeLeft >= retryBudgetMs(this.heartbeatMs)) {
      this.log.warn({ region: task.region, port: task.port, taskId: task.taskId, agentId: task.agentId, timeLeftMs: timeLeft }, "agent lost, retrying the task");
      task.sub?.unsubscribe();
      task.sub = undefined;
      task.previousLoss = loss;
      // No CancelTask here: it names the task, and would stop the retry at its new agent.
      this.send(task);
      return;
    }
    const why =
      task.attempt >= MAX_ATTEMPTS
        ? `${loss} on the retry, after ${task.previousLoss ?? "the first attempt was lost"}`
        : `${loss}, and too little time remained to retry`;
    this.publishCancel(task);
    this.finish(task, TaskStatus.TASK_STATUS_AGENT_LOST, why);
  }

  private onDeadline(): void {
    for (const task of this.tasks) {
      if (task.report) continue;
      this.publishCancel(task);
      this.finish(task, this.deadlineStatus, `no result within ${this.deadlineName}; last phase seen: ${this.lastSeen(task)}`);
    }
  }

  /** How a task the deadline ends is reported: the caller's deadline is not a timeout of ours. */
  private get deadlineStatus(): TaskStatus {
    return this.plan.deadlineFromCaller ? TaskStatus.TASK_STATUS_CALLER_DEADLINE : TaskStatus.TASK_STATUS_TIMED_OUT;
  }

  private get deadlineName(): string {
    return this.plan.deadlineFromCaller ? "the caller's deadline" : "the deadline";
  }

  /** Nobody answers for the task's region: its agents went away, or none has ever served it. */
  private finishUnserved(task: TaskDispatch): void {
    const served = this.plan.servedRegions;
    if (served === undefined || served.has(task.region)) {
      this.finish(task, TaskStatus.TASK_STATUS_NO_AGENT, `no agent serves region ${task.region}`);
      return;
    }
    const live = [...new Set(this.plan.liveRegions ?? [])].sort();
    this.finish(task, TaskStatus.TASK_STATUS_UNKNOWN_REGION, `unknown region ${task.region}; ${live.length > 0 ? `live regions: ${live.join(", ")}` : "no region has a live agent"}`);
  }

  private onAbort(): void {
    for (const task of this.tasks) {
      if (task.report) continue;
      this.publishCancel(task);
      this.finish(task, TaskStatus.TASK_STATUS_CANCELLED, "the caller cancelled the probe");
    }
  }

  private onConnectionLost(): void {
    this.log.warn("lost the NATS connection; unfinished tasks end now");
    for (const task of this.tasks) {
      if (task.report) continue;
      // Buffered by the client and sent on reconnect: the agents stop work nobody will read.
      this.publishCancel(task);
      this.finish(task, TaskStatus.TASK_STATUS_AGENT_LOST, NATS_LOST_DETAIL);
    }
  }

  private publishCancel(task: TaskDispatch): void {
    if (task.attempt === 0) return; // never sent
    try {
      this.deps.bus.publish(SUBJECTS.cancel(task.region), CancelTask.encode({ taskId: task.taskId, probeId: this.plan.probeId }).finish());
    } catch (error) {
      this.log.warn({ err: error, region: task.region, taskId: task.taskId }, "could not publish the task's cancellation");
    }
  }

  private finish(task: TaskDispatch, status: TaskStatus, detail: string, result?: TargetResult): void {
    if (task.report) return;
    // The lease ends now only when its connection is surely over: the first attempt's agent
    // answered (the result is sent after the handshake), or nobody took the task. Otherwise (lost,
    // deadline, cancelled, an invalid message) the agent may still be connected: the lease runs
    // out at the deadline plus the throttle's grace, as a release that never came would.
    if (task.leaseId !== undefined && task.attempt === 1 && LEASE_ENDS_WITH.has(status)) this.deps.permits?.releaseTaskLease(task.leaseId);
    if (task.lostTimer) clearTimeout(task.lostTimer);
    task.lostTimer = undefined;
    task.sub?.unsubscribe();
    task.sub = undefined;
    const report: TaskReport = {
      taskId: task.taskId,
      region: task.region,
      port: task.port,
      status,
      detail,
      agentId: task.agentId,
      attempts: task.attempt,
      result,
      egress: undefined,
      agentEgressPosture: undefined,
      durationMs: Math.max(0, Date.now() - task.startedAt),
    };
    task.report = report;
    const level = status === TaskStatus.TASK_STATUS_DONE ? "debug" : "info";
    this.log[level]({ region: task.region, port: task.port, taskId: task.taskId, agentId: task.agentId || undefined, status: TaskStatus[status], detail: detail || undefined, attempts: task.attempt }, "task ended");
    this.emit({ kind: "task", report });
    this.unfinished -= 1;
    if (this.unfinished === 0) this.complete();
  }

  private complete(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.resolve(this.tasks.map((task) => task.report!));
  }

  private emit(event: DispatchEvent): void {
    try {
      this.deps.onEvent?.(event);
    } catch (error) {
      this.log.error({ err: error }, "a dispatch event listener threw");
    }
  }

  private agentName(task: TaskDispatch): string {
    return task.agentId === "" ? "the agent" : `agent ${task.agentId}`;
  }

  private lastSeen(task: TaskDispatch): string {
    if (task.agentId === "") return task.attempt === 0 ? "none (never sent)" : "none (no agent answered)";
    if (task.queued) return `queued at agent ${task.agentId}`;
    if (task.lastPhase === undefined) return `taken by agent ${task.agentId}, no phase reported`;
    return phaseNames(task.lastPhase).name;
  }
}

/** The ends of a task after which its first attempt's connection is over. */
const LEASE_ENDS_WITH: ReadonlySet<TaskStatus> = new Set([
  TaskStatus.TASK_STATUS_DONE,
  TaskStatus.TASK_STATUS_AGENT_ERROR,
  TaskStatus.TASK_STATUS_NO_AGENT,
  TaskStatus.TASK_STATUS_UNKNOWN_REGION,
]);

function dropped(reason: DroppedMessageReason): void {
  metrics.agentMessagesDropped.inc({ reason });
}

function checkPlan(plan: ProbePlan): void {
  if (plan.probeId === "") throw new InvalidPlanError("no probe id");
  if (!Number.isFinite(plan.deadlineAt)) throw new InvalidPlanError(`deadlineAt is ${plan.deadlineAt}`);
  const heartbeat = plan.heartbeatMs;
  if (heartbeat !== undefined && !(Number.isFinite(heartbeat) && heartbeat > 0)) throw new InvalidPlanError(`heartbeatMs is ${heartbeat}`);
  for (const region of plan.regions) {
    try {
      checkToken(region);
    } catch (error) {
      throw new InvalidPlanError(`region ${JSON.stringify(region)} is not a safe subject token`, { cause: error });
    }
  }
  for (const { port, options } of plan.targets) {
    if (!isPort(port)) throw new InvalidPlanError(`port ${port} is out of range`);
    // The mode is decided once, at validation: an agent must never have to guess it.
    if (options.tlsMode === TlsMode.TLS_MODE_UNSPECIFIED) throw new InvalidPlanError(`port ${port} has no TLS mode`);
  }
  if (new Set(plan.regions).size !== plan.regions.length) throw new InvalidPlanError("a region is listed twice");
  if (new Set(plan.targets.map((t) => t.port)).size !== plan.targets.length) throw new InvalidPlanError("a port is listed twice");
}
