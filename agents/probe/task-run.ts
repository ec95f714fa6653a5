// One task at the agent, from its first progress to the result: the heartbeat, the deadline kept
// while it waits for a slot, the engine run, the result trimmed to fit one message, the answer. It
// gets what it needs from the agent (a reply function, a slot, the engine's context) and nothing
// else, so the agent keeps only the lifecycle: serving, checking, cancelling, stopping.
import type { AgentMessage, Task } from "../../gen/smtpprobe/agent/v1/agent.js";
import { Outcome, Phase, type TargetResult } from "../../gen/smtpprobe/v1/handshake.js";
import type { TaskProgress } from "../../gen/smtpprobe/v1/probe_service.js";
import type { Logger } from "../../lib/logger.js";
import { enumLabel, metrics } from "../../lib/metrics.js";
import { timerDelay } from "../../lib/timers.js";
import { startSpan, type TracedSpan } from "../../lib/trace-context.js";
import type { HandshakeProgress } from "../smtp/handshake.js";
import type { ResolvedOptions } from "../smtp/options.js";
import { probeTarget, type ProbeContext } from "../smtp/probe-target.js";
import type { Release } from "./semaphore.js";
import { notRunResult, relabelStopped, type StopReason } from "./stopped-task.js";
import { trimResult } from "./trim-result.js";
import { envelopeBytes } from "./agent-message.js";

/** Phase changes closer together than this share one progress message. */
export const PROGRESS_MIN_GAP_MS = 100;
/**
 * A task says nothing before this (or its heartbeat period, when shorter): one that ends sooner
 * sends its result alone. Each message wakes nats-server and the coordinator, and on loopback the
 * writes cost the sender more than the handshake's own (bench/README.md). The coordinator counts an
 * agent lost after three heartbeats of silence, far past this.
 */
export const QUIET_START_MS = 100;

/** What the engine gets besides the target, the options, the signal and the progress callback. */
export type TaskEngineContext = Pick<ProbeContext, "policy" | "gate" | "dnsServers" | "extraCa" | "blocklistsOff" | "postureResolver">;

export interface TaskRunDeps {
  /** Checked by the agent: its deadline is set. */
  task: Task;
  options: ResolvedOptions;
  /** The caller's W3C trace context (the task message's header): the run's span is its child. */
  traceparent: string | undefined;
  /** Sends one AgentMessage to the task's reply subject; false when nobody can hear it. */
  reply(message: Partial<AgentMessage>): boolean;
  /** Whether the task came with a reply subject: without one nobody would hear the result. */
  canReply: boolean;
  /** Waits for one of the agent's slots; rejects when the signal aborts first. */
  acquireSlot(signal: AbortSignal): Promise<Release>;
  /** The agent's slots, named when a task waited for one in vain. */
  concurrency: number;
  engine: TaskEngineContext;
  /** Period of the progress messages that are also the heartbeat. */
  heartbeatMs: number;
  /** Bound on one encoded AgentMessage. */
  maxResultBytes: number;
  agentId: string;
  /** The agent's logger; the run logs through a child with the task's ids. */
  logger: Logger;
  /** Called once the result reached the reply subject. */
  onAnswered(): void;
}

export class TaskRun {
  readonly task: Task;
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly controller = new AbortController();
  private readonly received = performance.now();
  /** The deadline had passed before the task arrived (a late message, or clocks apart). */
  private readonly arrivedLate: boolean;
  private progress: TaskProgress;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastProgressAt = 0;
  private queueDeadline: NodeJS.Timeout | undefined;
  private taskLog: Logger | undefined;
  private readonly span: TracedSpan;

  constructor(private readonly deps: TaskRunDeps) {
    const { task } = deps;
    this.task = task;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.arrivedLate = task.deadline!.getTime() <= Date.now();
    // The coordinator's span is the parent (NATS headers): one trace per probe across processes.
    this.span = startSpan("smtpprobe.task", deps.traceparent, { "smtpprobe.probe_id": task.probeId, "smtpprobe.task_id": task.taskId, "smtpprobe.region": task.region });
    this.progress = {
      taskId: task.taskId,
      region: task.region,
      port: task.port,
      agentId: deps.agentId,
      phase: Phase.PHASE_UNSPECIFIED,
      host: task.host,
      address: "",
      queued: true,
    };
  }

  /** The run's logger, with the task's ids: made when something is logged (pino's child costs). */
  private get log(): Logger {
    return (this.taskLog ??= this.deps.logger.child({ taskId: this.task.taskId, probeId: this.task.probeId, port: this.task.port, traceId: this.span.traceId }));
  }

  /**
   * Starts the run, and the progress that is also the heartbeat: the first after QUIET_START_MS
   * (queued, or the phase reached), then one every heartbeat period; false when nobody can hear
   * the answer.
   */
  begin(): boolean {
    if (!this.deps.canReply) {
      this.log.warn("task without a reply subject ignored");
      this.span.span.end();
      this.resolveDone();
      return false;
    }
    const { heartbeatMs } = this.deps;
    this.heartbeat = setTimeout(() => {
      this.heartbeat = setInterval(() => this.sendProgress(), heartbeatMs);
      this.lastProgressAt = performance.now();
      this.sendProgress();
    }, Math.min(QUIET_START_MS, heartbeatMs));
    // While it waits for a slot, the deadline is ours to keep; once it runs, the engine keeps it.
    // (setTimeout fires at once past 2^31-1 ms: a far deadline waits that long at most.)
    const untilDeadline = this.task.deadline!.getTime() - Date.now();
    this.queueDeadline = setTimeout(() => this.abort("deadline"), timerDelay(untilDeadline));
    void this.execute().finally(() => {
      this.span.span.end();
      this.resolveDone();
    });
    return true;
  }

  abort(reason: StopReason): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  private get stopReason(): StopReason | undefined {
    return this.controller.signal.aborted ? (this.controller.signal.reason as StopReason) : undefined;
  }

  private sendProgress(): boolean {
    return this.deps.reply({ taskId: this.task.taskId, progress: this.progress });
  }

  private async execute(): Promise<void> {
    const region = this.task.region;
    metrics.tasksInFlightAgent.inc({ region, state: "queued" });
    let release: Release;
    try {
      release = await this.deps.acquireSlot(this.controller.signal);
    } catch {
      metrics.tasksInFlightAgent.dec({ region, state: "queued" });
      this.finish(this.notRun(this.stopReason ?? "cancelled"));
      return;
    }
    metrics.tasksInFlightAgent.dec({ region, state: "queued" });
    metrics.tasksInFlightAgent.inc({ region, state: "running" });
    clearTimeout(this.queueDeadline);
    try {
      const remainingMs = this.task.deadline!.getTime() - Date.now();
      if (this.stopReason || remainingMs <= 0) {
        this.finish(this.notRun(this.stopReason ?? "deadline"));
        return;
      }
      this.progress = { ...this.progress, queued: false };
      const waitedMs = Math.round(performance.now() - this.received);
      if (this.deps.logger.isLevelEnabled("info")) this.log.info({ host: this.task.host, mx: this.task.mx, attempt: this.task.attempt, waitedMs }, "task started");
      let result: TargetResult;
      // The task's deadline bounds the probe's: the engine reports DEADLINE_EXCEEDED itself.
      const taskDeadlineBinds = remainingMs <= this.deps.options.deadlineMs;
      try {
        result = await probeTarget(
          { host: this.task.host, port: this.task.port, mx: this.task.mx },
          { ...this.deps.options, deadlineMs: Math.max(1, Math.min(this.deps.options.deadlineMs, remainingMs)) },
          { ...this.deps.engine, signal: this.controller.signal, onProgress: (p) => this.onProgress(p) },
        );
      } catch (error) {
        // Only a bug in our code throws (the engine turns every target's misbehaviour into data).
        this.log.error({ err: error }, "the probe failed");
        this.stopHeartbeat();
        this.deps.reply({ taskId: this.task.taskId, error: `internal error in the agent: ${error instanceof Error ? error.message : String(error)}` });
        return;
      }
      // A deadline that is the caller's ended it only when it, not the request's own, bound the run.
      relabelStopped(result, { stopReason: this.stopReason, callerDeadline: this.task.deadlineFromCaller && taskDeadlineBinds });
      this.finish(result);
    } finally {
      metrics.tasksInFlightAgent.dec({ region, state: "running" });
      release();
    }
  }

  private onProgress(p: HandshakeProgress): void {
    this.progress = { ...this.progress, phase: p.phase, host: p.host, address: p.address, queued: false };
    // A phase change goes out at once unless one went out less than PROGRESS_MIN_GAP_MS ago: each
    // message wakes NATS and the coordinator in the middle of the handshake (bench). A phase that
    // lasts longer is reported by the next heartbeat, which always carries the latest phase.
    const now = performance.now();
    // Within the quiet start the first heartbeat will carry the latest phase, if the task lasts.
    if (now - this.received < Math.min(QUIET_START_MS, this.deps.heartbeatMs)) return;
    if (now - this.lastProgressAt >= PROGRESS_MIN_GAP_MS) {
      this.lastProgressAt = now;
      this.sendProgress();
    }
  }

  private stopHeartbeat(): void {
    // A Timeout from setTimeout or setInterval: clearTimeout ends either.
    clearTimeout(this.heartbeat);
    clearTimeout(this.queueDeadline);
  }

  private finish(result: TargetResult): void {
    this.stopHeartbeat();
    const { maxResultBytes, agentId } = this.deps;
    // The envelope around the result: task id, agent id, and the result's tag and length (≤ 6).
    const envelope = envelopeBytes(this.task.taskId, agentId) + 6;
    const trimmed = trimResult(result, maxResultBytes - envelope);
    if (trimmed.result !== result) {
      this.log.warn(
        { bytes: trimmed.bytes, originalBytes: trimmed.originalBytes, droppedEntries: trimmed.droppedEntries, textsCut: trimmed.textsCut, maxResultBytes },
        "result trimmed to fit one message",
      );
    }
    const ms = Math.round(performance.now() - this.received);
    countHandshakes(this.task.region, this.task.port, result);
    if (!trimmed.fits) {
      this.log.error({ bytes: trimmed.bytes, maxResultBytes, outcome: summarizeOutcome(trimmed.result), ms }, "task done: result too large even trimmed");
      this.deps.reply({
        taskId: this.task.taskId,
        error: `the result is ${trimmed.bytes} bytes even trimmed, over the agent's bound of ${maxResultBytes} bytes`,
      });
      return;
    }
    if (this.deps.reply({ taskId: this.task.taskId, result: trimmed.result })) this.deps.onAnswered();
    // The outcome's summary is for this line only: made when it is written.
    if (this.deps.logger.isLevelEnabled("info")) this.log.info({ outcome: summarizeOutcome(trimmed.result), ms, stopped: this.stopReason }, "task done");
  }

  private notRun(reason: StopReason): TargetResult {
    const { task } = this;
    return notRunResult(
      reason,
      { host: task.host, port: task.port, mx: task.mx, tlsMode: this.deps.options.tlsMode, portRole: this.deps.options.portRole, deadline: task.deadline!, deadlineFromCaller: task.deadlineFromCaller },
      { arrivedLate: this.arrivedLate, waitedMs: Math.round(performance.now() - this.received), concurrency: this.deps.concurrency },
    );
  }
}

/** Each handshake by outcome, and each phase it completed by duration (lib/metrics.ts). */
function countHandshakes(region: string, port: number, result: TargetResult): void {
  const portLabel = String(port);
  for (const handshake of result.handshakes) {
    metrics.handshakes.inc({ region, port: portLabel, outcome: enumLabel(Outcome[handshake.outcome], "OUTCOME_") });
    for (const timing of handshake.timings) {
      metrics.phaseDuration.observe({ region, phase: enumLabel(Phase[timing.phase], "PHASE_") }, timing.durationMs / 1000);
    }
  }
}

/** The outcomes of a result's handshakes, for the log: "OUTCOME_OK" or "OUTCOME_REFUSED,OUTCOME_OK". */
function summarizeOutcome(result: TargetResult): string {
  return [...new Set(result.handshakes.map((h) => Outcome[h.outcome] ?? String(h.outcome)))].join(",") || "none";
}
