// What a task's result says when the agent, not the target, stopped it: a cancel from the caller,
// the agent's shutdown, or the task's deadline. Pure; task-run.ts decides when.
import { FailureSource, Outcome, Phase, type TargetResult, type TlsMode } from "../../gen/smtpprobe/v1/handshake.js";
import { stoppedBeforeConnecting } from "../smtp/stopped-result.js";

/** Why a task was stopped before it finished on its own. */
export type StopReason = "cancelled" | "shutdown" | "deadline";

export interface NotRunTask {
  host: string;
  port: number;
  mx: boolean;
  tlsMode: TlsMode;
  /** The task's deadline, named when it had passed on arrival. */
  deadline: Date;
}

export interface NotRunWait {
  /** The deadline had passed before the task reached the agent (a late message, or clocks apart). */
  arrivedLate: boolean;
  /** How long it waited for a slot. */
  waitedMs: number;
  /** The agent's slots, all busy while it waited. */
  concurrency: number;
}

/** The outcome and reason of a task that never got a slot. */
export function notRunReason(reason: StopReason, task: Pick<NotRunTask, "deadline">, wait: NotRunWait): { outcome: Outcome; text: string } {
  switch (reason) {
    case "deadline":
      return {
        outcome: Outcome.OUTCOME_DEADLINE_EXCEEDED,
        text: wait.arrivedLate
          ? `the task's deadline (${task.deadline.toISOString()}) had passed when it reached the agent`
          : `the task's deadline passed after ${wait.waitedMs} ms waiting for a free slot at the agent (all ${wait.concurrency} busy)`,
      };
    case "shutdown":
      return { outcome: Outcome.OUTCOME_CANCELLED, text: "the agent shut down before the task got a free slot" };
    case "cancelled":
      return { outcome: Outcome.OUTCOME_CANCELLED, text: "cancelled by the caller while waiting for a free slot at the agent" };
  }
}

/** The result of a task that never got a slot: one handshake that says why, no connection made. */
export function notRunResult(reason: StopReason, task: NotRunTask, wait: NotRunWait): TargetResult {
  const { outcome, text } = notRunReason(reason, task, wait);
  return {
    host: task.host,
    port: task.port,
    mx: task.mx,
    exchangers: [],
    handshakes: [
      stoppedBeforeConnecting({
        where: { host: task.host, port: task.port },
        tlsMode: task.tlsMode,
        outcome,
        phase: Phase.PHASE_UNSPECIFIED,
        failureSource: FailureSource.FAILURE_SOURCE_INTERNAL,
        reason: text,
      }),
    ],
    totalMs: 0,
    notProbed: [],
    notProbedOmitted: 0,
  };
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
