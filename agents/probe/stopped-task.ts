// What a task's result says when the agent, not the target, stopped it: a cancel from the caller,
// the agent's shutdown, or the task's deadline. A deadline that is the caller's (the task says so:
// Task.deadline_from_caller) is OUTCOME_CALLER_DEADLINE, and a cancel is the caller's too
// (FAILURE_SOURCE_CALLER): neither says anything about the target. Pure; task-run.ts decides when.
import { FailureSource, Outcome, Phase, type PortRole, type TargetResult, type TlsMode } from "../../gen/smtpprobe/v1/handshake.js";
import { phaseLabel } from "../smtp/phases.js";
import { stoppedBeforeConnecting } from "../smtp/stopped-result.js";

/** Why a task was stopped before it finished on its own. */
export type StopReason = "cancelled" | "shutdown" | "deadline";

export interface NotRunTask {
  host: string;
  port: number;
  mx: boolean;
  tlsMode: TlsMode;
  portRole: PortRole;
  /** The task's deadline, named when it had passed on arrival. */
  deadline: Date;
  /** The deadline is the caller's gRPC deadline (Task.deadline_from_caller). */
  deadlineFromCaller: boolean;
}

export interface NotRunWait {
  /** The deadline had passed before the task reached the agent (a late message, or clocks apart). */
  arrivedLate: boolean;
  /** How long it waited for a slot. */
  waitedMs: number;
  /** The agent's slots, all busy while it waited. */
  concurrency: number;
}

/** The outcome, failure source and reason of a task that never got a slot. */
export function notRunReason(
  reason: StopReason,
  task: Pick<NotRunTask, "deadline" | "deadlineFromCaller">,
  wait: NotRunWait,
): { outcome: Outcome; source: FailureSource; text: string } {
  switch (reason) {
    case "deadline": {
      const whose = task.deadlineFromCaller ? "the caller's deadline" : "the task's deadline";
      return {
        outcome: task.deadlineFromCaller ? Outcome.OUTCOME_CALLER_DEADLINE : Outcome.OUTCOME_DEADLINE_EXCEEDED,
        source: task.deadlineFromCaller ? FailureSource.FAILURE_SOURCE_CALLER : FailureSource.FAILURE_SOURCE_INTERNAL,
        text: wait.arrivedLate
          ? `${whose} (${task.deadline.toISOString()}) had passed when it reached the agent`
          : `${whose} passed after ${wait.waitedMs} ms waiting for a free slot at the agent (all ${wait.concurrency} busy)`,
      };
    }
    case "shutdown":
      return { outcome: Outcome.OUTCOME_CANCELLED, source: FailureSource.FAILURE_SOURCE_INTERNAL, text: "the agent shut down before the task got a free slot" };
    case "cancelled":
      return { outcome: Outcome.OUTCOME_CANCELLED, source: FailureSource.FAILURE_SOURCE_CALLER, text: "cancelled by the caller while waiting for a free slot at the agent" };
  }
}

/** The result of a task that never got a slot: one handshake that says why, no connection made. */
export function notRunResult(reason: StopReason, task: NotRunTask, wait: NotRunWait): TargetResult {
  const { outcome, source, text } = notRunReason(reason, task, wait);
  return {
    host: task.host,
    port: task.port,
    mx: task.mx,
    exchangers: [],
    handshakes: [
      stoppedBeforeConnecting({
        where: { host: task.host, port: task.port },
        tlsMode: task.tlsMode,
        portRole: task.portRole,
        outcome,
        phase: Phase.PHASE_UNSPECIFIED,
        failureSource: source,
        reason: text,
      }),
    ],
    totalMs: 0,
    notProbed: [],
    notProbedOmitted: 0,
    mailPolicy: undefined,
  };
}

/** How an engine run that the agent did not let finish ended. */
export interface EngineStop {
  /** Why the agent aborted the run, if it did. */
  stopReason: StopReason | undefined;
  /** The task's deadline, which is the caller's, was the run's deadline (not the request's shorter one). */
  callerDeadline: boolean;
}

/**
 * The engine's result, told as what stopped it: the agent's shutdown (relabelShutdown), the
 * caller's cancel (its source is the caller), or the caller's deadline (relabelCallerDeadline).
 */
export function relabelStopped(result: TargetResult, stop: EngineStop): void {
  if (stop.stopReason === "shutdown") relabelShutdown(result);
  else if (stop.stopReason === "cancelled") relabelCallerCancel(result);
  if (stop.callerDeadline) relabelCallerDeadline(result);
}

/** The engine says "cancelled by the caller"; when the agent's own shutdown did it, say so. */
export function relabelShutdown(result: TargetResult): void {
  for (const handshake of result.handshakes) {
    if (handshake.outcome === Outcome.OUTCOME_CANCELLED) {
      handshake.reason = "the agent shut down before the probe finished";
      handshake.failureSource = FailureSource.FAILURE_SOURCE_INTERNAL;
    }
  }
}

/** The caller cancelled (a CancelTask): the engine's cancelled handshakes are the caller's doing. */
export function relabelCallerCancel(result: TargetResult): void {
  for (const handshake of result.handshakes) {
    if (handshake.outcome === Outcome.OUTCOME_CANCELLED) handshake.failureSource = FailureSource.FAILURE_SOURCE_CALLER;
  }
}

/**
 * The engine says the probe's deadline passed (and blames the target, which was too slow for it);
 * when that deadline was the caller's, the caller stopped waiting: OUTCOME_CALLER_DEADLINE.
 */
export function relabelCallerDeadline(result: TargetResult): void {
  for (const handshake of result.handshakes) {
    if (handshake.outcome !== Outcome.OUTCOME_DEADLINE_EXCEEDED) continue;
    handshake.outcome = Outcome.OUTCOME_CALLER_DEADLINE;
    handshake.failureSource = FailureSource.FAILURE_SOURCE_CALLER;
    handshake.reason = `the caller's deadline ended the probe at ${phaseLabel(handshake.phase)} after ${Math.round(handshake.totalMs)} ms; it says nothing about the target`;
  }
}
