// The regional agent (docs/design.md §1, §3): serves its region's tasks over the bus, runs the engine
// under the target policy with bounded concurrency, streams progress (also the heartbeat) to each
// task's reply subject, and answers with the result. It depends on the Bus interface only, so the
// same code runs over NATS and in-process (embedded mode); main.ts only has to build the config,
// the bus, the policy and the logger, call startAgent() and, on SIGTERM, stop() then drain.
import { type EgressCheck, type TaskProgress } from "../../gen/smtpprobe/v1/probe_service.js";
import { AgentMessage, CancelTask, PermitMessage, PermitReply, Task } from "../../gen/smtpprobe/agent/v1/agent.js";
import { FailureSource, Outcome, Phase, type TargetResult } from "../../gen/smtpprobe/v1/handshake.js";
import { stoppedBeforeConnecting } from "../smtp/stopped-result.js";
import { BUS_HEADERS, HEARTBEAT_BOUNDS, SUBJECTS, checkToken, type Bus, type BusMessage, type BusSubscription, type ServedService } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { timerDelay } from "../../lib/timers.js";
import { enumLabel, metrics } from "../../lib/metrics.js";
import { startSpan, type TracedSpan } from "../../lib/trace-context.js";
import { checkEhloName, InvalidOptionsError, machineEhloName, resolveOptions, type ResolvedOptions } from "../smtp/options.js";
import { probeTarget, type ConnectGate } from "../smtp/probe-target.js";
import type { TargetPolicy } from "../../lib/policy/policy-types.js";
import type { HandshakeProgress } from "../smtp/handshake.js";
import { AGENT_ID, agentStats, type AgentStats } from "./agent-info.js";
import { EgressCanary, MAX_CANARY_DEADLINE_MS, type CanaryTarget } from "./canary.js";
import { Semaphore, type Release } from "./semaphore.js";
import { trimResult } from "./trim-result.js";
import { isPort } from "../../lib/host-name.js";

export interface AgentConfig {
  /** A safe subject token (lib/bus.ts REGION_TOKEN). */
  region: string;
  /** Printable ASCII, at most 128 characters; unique among the region's agents. */
  agentId: string;
  version: string;
  /** Probes running at once; beyond it tasks wait in arrival order. Default 32. */
  concurrency?: number;
  /** Heartbeat period when a task's heartbeat_ms is 0. Default 1000. */
  heartbeatMs?: number;
  canaries?: readonly CanaryTarget[];
  /** Default 60 000; the first round runs at start. */
  canaryIntervalMs?: number;
  /** Deadline of one canary probe, at most (and by default) 10 000. */
  canaryDeadlineMs?: number;
  /** EHLO name when a task names none; default: the machine's FQDN, else an address literal. */
  defaultEhloName?: string;
  /** DNS servers as "ip" or "ip:port"; default the system's. */
  dnsServers?: readonly string[];
  /** Extra trusted CAs (PEM). */
  extraCa?: string;
  /** Bound on one encoded AgentMessage; default 900 KiB, under NATS's default 1 MiB max payload. */
  maxResultBytes?: number;
  /**
   * Ask the coordinator for a slot (smtpprobe.v1.permit.<region>) before each connection: its
   * per-destination throttle. Default true; without an answer nothing connects (fail closed).
   * False only where no coordinator runs, as in tests of the agent alone.
   */
  permits?: boolean;
}

export interface AgentDeps {
  bus: Bus;
  /** Applied by the engine to every resolved address (agents/probe/target-policy.ts builds it). */
  policy: TargetPolicy;
  logger: Logger;
}

export interface RunningAgent {
  readonly agentId: string;
  readonly region: string;
  /** The id of the served service instance, as discovery lists it. */
  readonly serviceId: string;
  /** What the service publishes as its stats. */
  stats(): AgentStats;
  /** The latest egress check per port. */
  egress(): EgressCheck[];
  /** Runs one canary round now (or joins the running one). */
  checkEgress(): Promise<EgressCheck[]>;
  /**
   * Stops taking tasks (leaves the queue group), lets the tasks it has finish for up to `graceMs`
   * (default 10 000), then aborts the rest, which answer with CANCELLED results. Stops the canary.
   * Does not drain the bus: the caller owns it. Calling it again returns the same promise.
   */
  stop(graceMs?: number): Promise<void>;
}

export const AGENT_DEFAULTS = {
  concurrency: 32,
  heartbeatMs: 1000,
  canaryIntervalMs: 60_000,
  canaryDeadlineMs: MAX_CANARY_DEADLINE_MS,
  maxResultBytes: 900 * 1024,
  stopGraceMs: 10_000,
  permits: true,
} as const;

/** Phase changes closer together than this share one progress message. */
export const PROGRESS_MIN_GAP_MS = 100;

const MAX_TASK_ID = 128;
const MAX_HOST = 255;
/** How much sooner than the probe's deadline the coordinator gives up waiting for a slot. */
const PERMIT_ANSWER_MARGIN_MS = 200;

export class InvalidAgentConfigError extends Error {
  override readonly name = "InvalidAgentConfigError";
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`agent configuration: ${field} ${problem}`);
  }
}

export type ResolvedAgentConfig = Required<Omit<AgentConfig, "defaultEhloName" | "dnsServers" | "extraCa">> &
  Pick<AgentConfig, "defaultEhloName" | "dnsServers" | "extraCa">;

/** Fills in defaults and checks the configuration; throws InvalidAgentConfigError naming the field. */
export function resolveAgentConfig(config: AgentConfig): ResolvedAgentConfig {
  const fail = (field: string, problem: string): never => {
    throw new InvalidAgentConfigError(field, problem);
  };
  try {
    checkToken(config.region);
  } catch {
    fail("region", `must be lower-case letters, digits and hyphens (at most 63), not ${JSON.stringify(config.region)}`);
  }
  if (!AGENT_ID.test(config.agentId)) fail("agentId", "must be 1 to 128 printable ASCII characters without spaces");
  const integer = (field: string, value: number | undefined, fallback: number, min: number, max: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < min || v > max) fail(field, `must be an integer from ${min} to ${max}, not ${v}`);
    return v;
  };
  const settings: ResolvedAgentConfig = {
    region: config.region,
    agentId: config.agentId,
    version: config.version,
    concurrency: integer("concurrency", config.concurrency, AGENT_DEFAULTS.concurrency, 1, 10_000),
    heartbeatMs: integer("heartbeatMs", config.heartbeatMs, AGENT_DEFAULTS.heartbeatMs, HEARTBEAT_BOUNDS.minMs, HEARTBEAT_BOUNDS.maxMs),
    canaries: [...(config.canaries ?? [])],
    canaryIntervalMs: integer("canaryIntervalMs", config.canaryIntervalMs, AGENT_DEFAULTS.canaryIntervalMs, 1, 24 * 3600_000),
    canaryDeadlineMs: integer("canaryDeadlineMs", config.canaryDeadlineMs, AGENT_DEFAULTS.canaryDeadlineMs, 1, MAX_CANARY_DEADLINE_MS),
    maxResultBytes: integer("maxResultBytes", config.maxResultBytes, AGENT_DEFAULTS.maxResultBytes, 1024, 64 * 1024 * 1024),
    permits: config.permits ?? AGENT_DEFAULTS.permits,
    // Resolved once here: resolveOptions would otherwise ask the OS for the host name per task.
    defaultEhloName: config.defaultEhloName ?? machineEhloName(),
    dnsServers: config.dnsServers,
    extraCa: config.extraCa,
  };
  settings.canaries.forEach((c, i) => {
    if (!c.host) fail(`canaries[${i}].host`, "must not be empty");
    if (!isPort(c.port)) fail(`canaries[${i}].port`, `must be from 1 to 65535, not ${c.port}`);
  });
  if (config.defaultEhloName) {
    const problem = checkEhloName(config.defaultEhloName);
    if (problem) fail("defaultEhloName", problem);
  }
  return settings;
}

/** Serves the region's tasks until stop(). Throws InvalidAgentConfigError for a bad config. */
export async function startAgent(config: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const agent = new Agent(resolveAgentConfig(config), deps);
  return agent.start();
}

/** Why a task was stopped before it finished on its own. */
type StopReason = "cancelled" | "shutdown" | "deadline";

class Agent {
  readonly startedAt = new Date();
  readonly log: Logger;
  readonly slots: Semaphore;
  readonly canary: EgressCanary;
  /** Tasks accepted and not yet answered, by task id (a retried task may arrive twice). */
  private readonly runs = new Map<string, Set<TaskRun>>();
  private accepting = true;
  private tasksDone = 0;
  private served: ServedService | undefined;
  private cancelSub: BusSubscription | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly settings: ResolvedAgentConfig,
    readonly deps: AgentDeps,
  ) {
    this.log = deps.logger.child({ region: settings.region, agentId: settings.agentId });
    this.slots = new Semaphore(settings.concurrency);
    this.canary = new EgressCanary({
      canaries: settings.canaries,
      intervalMs: settings.canaryIntervalMs,
      deadlineMs: settings.canaryDeadlineMs,
      defaultEhloName: settings.defaultEhloName,
      dnsServers: settings.dnsServers,
      logger: this.log,
    });
  }

  async start(): Promise<RunningAgent> {
    const { bus } = this.deps;
    const { region, agentId, version } = this.settings;
    // Every agent of the region hears every cancel (no queue group): only the one running it acts.
    this.cancelSub = bus.subscribe(SUBJECTS.cancel(region), (msg) => this.onCancel(msg));
    try {
      this.served = await bus.serve({
        name: SUBJECTS.agentService,
        version,
        description: `smtp-probe agent of region ${region}`,
        metadata: { region, agent_id: agentId },
        endpoint: { name: "task", subject: SUBJECTS.task(region), queue: SUBJECTS.queue(region), handler: (msg) => this.onTaskMessage(msg) },
        stats: () => this.stats(),
      });
    } catch (error) {
      this.cancelSub.unsubscribe();
      throw error;
    }
    this.canary.start();
    this.log.info(
      { concurrency: this.settings.concurrency, canaries: this.settings.canaries.length, serviceId: this.served.id, bus: bus.kind },
      "agent started",
    );
    const served = this.served;
    return {
      agentId,
      region,
      serviceId: served.id,
      stats: () => this.stats(),
      egress: () => this.canary.egress(),
      checkEgress: () => this.canary.checkEgress(),
      stop: (graceMs) => this.stop(graceMs ?? AGENT_DEFAULTS.stopGraceMs),
    };
  }

  stats(): AgentStats {
    return agentStats({
      agent_id: this.settings.agentId,
      region: this.settings.region,
      in_flight: this.slots.inUse,
      queued: this.slots.waiting,
      capacity: this.settings.concurrency,
      tasks_done: this.tasksDone,
      startedAt: this.startedAt,
      egress: this.canary.egress(),
    });
  }

  /** Sends one AgentMessage to a task's reply subject; false when there is none or sending failed. */
  reply(msg: BusMessage, message: Partial<AgentMessage>): boolean {
    try {
      return msg.respond(AgentMessage.encode(AgentMessage.fromPartial({ agentId: this.settings.agentId, ...message })).finish());
    } catch (error) {
      // A closed connection: the caller will notice the silence (no heartbeat) and retry elsewhere.
      this.log.warn({ err: error, taskId: message.taskId }, "could not send to the task's reply subject");
      return false;
    }
  }

  /** Nothing may throw into the bus's callback: a bug is logged and answered, not a crash. */
  private onTaskMessage(msg: BusMessage): void {
    try {
      this.onTask(msg);
    } catch (error) {
      this.log.error({ err: error }, "handling a task failed");
      this.reply(msg, { error: `internal error in the agent: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  private onTask(msg: BusMessage): void {
    let task: Task;
    try {
      task = Task.decode(msg.data);
    } catch (error) {
      this.reject(msg, "", `invalid task: not a Task message (${error instanceof Error ? error.message : String(error)})`);
      return;
    }
    if (!this.accepting) {
      this.reject(msg, task.taskId, "the agent is shutting down");
      return;
    }
    const problem = this.checkTask(task);
    if (problem) {
      this.reject(msg, task.taskId, `invalid task: ${problem}`, task.probeId);
      return;
    }
    let options: ResolvedOptions;
    try {
      options = resolveOptions(task.options, task.port, this.settings.defaultEhloName);
    } catch (error) {
      if (!(error instanceof InvalidOptionsError)) throw error;
      this.reject(msg, task.taskId, `invalid task: options.${error.violations.map((v) => `${v.field}: ${v.message}`).join("; options.")}`, task.probeId);
      return;
    }
    const run = new TaskRun(this, task, options, msg);
    if (!run.begin()) return;
    const same = this.runs.get(task.taskId) ?? new Set();
    same.add(run);
    this.runs.set(task.taskId, same);
    void run.done.finally(() => {
      same.delete(run);
      if (same.size === 0 && this.runs.get(task.taskId) === same) this.runs.delete(task.taskId);
    });
  }

  private reject(msg: BusMessage, taskId: string, error: string, probeId?: string): void {
    this.log.warn({ taskId, probeId, error }, "task refused");
    this.reply(msg, { taskId, error });
  }

  /** Why the task cannot run (the field first), or undefined. */
  private checkTask(task: Task): string | undefined {
    if (task.region !== this.settings.region) {
      return `region: ${JSON.stringify(task.region)} is not this agent's region ${JSON.stringify(this.settings.region)}`;
    }
    if (!task.taskId) return "task_id: missing";
    if (task.taskId.length > MAX_TASK_ID) return `task_id: longer than ${MAX_TASK_ID} characters`;
    if (!task.host) return "host: missing";
    if (task.host.length > MAX_HOST) return `host: longer than ${MAX_HOST} characters`;
    if (!isPort(task.port)) return `port: must be from 1 to 65535, not ${task.port}`;
    if (!task.deadline || !Number.isFinite(task.deadline.getTime())) return "deadline: missing";
    return undefined;
  }

  private onCancel(msg: BusMessage): void {
    let cancel: CancelTask;
    try {
      cancel = CancelTask.decode(msg.data);
    } catch {
      this.log.warn("undecodable CancelTask ignored");
      return;
    }
    // A task id cancels that task (its probe id, when given, must match); a probe id alone
    // cancels every task of the probe.
    const targets = cancel.taskId
      ? [...(this.runs.get(cancel.taskId) ?? [])].filter((r) => !cancel.probeId || r.task.probeId === cancel.probeId)
      : cancel.probeId
        ? [...this.runs.values()].flatMap((set) => [...set]).filter((r) => r.task.probeId === cancel.probeId)
        : [];
    if (targets.length === 0) return;
    this.log.info({ taskId: cancel.taskId, probeId: cancel.probeId, tasks: targets.length }, "cancelling");
    for (const run of targets) run.abort("cancelled");
  }

  /**
   * The engine's gate for one task: a PermitRequest to the coordinator, answered when the throttle
   * has a slot or denies; the release is a PermitRelease. No coordinator, or no answer by the
   * deadline, denies: the throttle protects the targets, so it fails closed.
   */
  permitGate(task: Task): ConnectGate {
    const { bus } = this.deps;
    const subject = SUBJECTS.permit(this.settings.region);
    return (address, port, { signal, deadlineAt }) =>
      new Promise((resolve) => {
        const remainingMs = deadlineAt - performance.now();
        if (remainingMs <= 0) {
          resolve({ denied: "throttled: the probe's deadline passed before a connection slot could be asked for" });
          return;
        }
        // The coordinator stops waiting a little before we do, so its answer (naming the limit)
        // arrives instead of our bare timeout.
        const coordinatorDeadline = new Date(Date.now() + remainingMs - Math.min(PERMIT_ANSWER_MARGIN_MS, remainingMs / 10));
        const request = PermitMessage.encode(
          PermitMessage.fromPartial({ request: { taskId: task.taskId, probeId: task.probeId, address, port, deadline: coordinatorDeadline } }),
        ).finish();
        let sub: BusSubscription | undefined;
        let settled = false;
        const done = (answer: { release(): void } | { denied: string }): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          sub?.unsubscribe();
          resolve(answer);
        };
        const onAbort = (): void => done({ denied: "cancelled while waiting for a connection slot" });
        const timer = setTimeout(
          () => done({ denied: `throttled: no answer from the coordinator's throttle within the probe's deadline (${Math.round(remainingMs)} ms); no connection without a permit` }),
          timerDelay(remainingMs),
        );
        signal?.addEventListener("abort", onAbort, { once: true });
        try {
          sub = bus.request(subject, request, (event) => {
            if (event.kind === "no_responders") {
              done({ denied: "throttled: no coordinator answers permit requests; no connection without a permit (fail closed)" });
              return;
            }
            let reply: PermitReply;
            try {
              reply = PermitReply.decode(event.data);
            } catch {
              done({ denied: "throttled: the coordinator's permit reply was not a PermitReply; no connection without a permit" });
              return;
            }
            if (!reply.granted || !reply.leaseId) {
              done({ denied: reply.reason || "throttled by the coordinator" });
              return;
            }
            const leaseId = reply.leaseId;
            let released = false;
            done({
              release: () => {
                if (released) return;
                released = true;
                try {
                  bus.publish(subject, PermitMessage.encode(PermitMessage.fromPartial({ release: { leaseId } })).finish());
                } catch (error) {
                  // The lease then ends by itself at its deadline (the throttle's TTL).
                  this.log.warn({ err: error, taskId: task.taskId }, "could not release a connection permit");
                }
              },
            });
          });
        } catch (error) {
          done({ denied: `throttled: could not ask the coordinator for a connection slot (${error instanceof Error ? error.message : String(error)})` });
        }
        if (settled) sub?.unsubscribe();
      });
  }

  taskFinished(answered: boolean): void {
    if (answered) this.tasksDone += 1;
  }

  private stop(graceMs: number): Promise<void> {
    this.stopping ??= (async () => {
      this.accepting = false;
      const canaryStopped = this.canary.stop();
      try {
        await this.served?.stop();
      } catch (error) {
        this.log.warn({ err: error }, "stopping the service failed");
      }
      const pending = [...this.runs.values()].flatMap((set) => [...set]);
      if (pending.length > 0) {
        this.log.info({ inFlight: this.slots.inUse, queued: this.slots.waiting, graceMs }, "stopping: letting tasks finish");
        const allDone = Promise.all(pending.map((r) => r.done));
        let timer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<true>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)));
        const timedOut = await Promise.race([allDone.then(() => false), graceOver]);
        clearTimeout(timer);
        if (timedOut) {
          this.log.warn({ tasks: pending.length }, "grace period over: cancelling the tasks left");
          for (const run of pending) run.abort("shutdown");
          await allDone;
        }
      }
      this.cancelSub?.unsubscribe();
      await canaryStopped;
      this.log.info({ tasksDone: this.tasksDone }, "agent stopped");
    })();
    return this.stopping;
  }
}

/** One task, from the queued reply to the result. */
class TaskRun {
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
  private readonly log: Logger;
  private readonly span: TracedSpan;

  constructor(
    private readonly agent: Agent,
    readonly task: Task,
    private readonly options: ResolvedOptions,
    private readonly msg: BusMessage,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.arrivedLate = task.deadline!.getTime() <= Date.now();
    // The coordinator's span is the parent (NATS headers): one trace per probe across processes.
    this.span = startSpan("smtpprobe.task", msg.headers[BUS_HEADERS.traceparent], { "smtpprobe.probe_id": task.probeId, "smtpprobe.task_id": task.taskId, "smtpprobe.region": task.region });
    this.log = agent.log.child({ taskId: task.taskId, probeId: task.probeId, port: task.port, traceId: this.span.traceId });
    this.progress = {
      taskId: task.taskId,
      region: task.region,
      port: task.port,
      agentId: agent.settings.agentId,
      phase: Phase.PHASE_UNSPECIFIED,
      host: task.host,
      address: "",
      queued: true,
    };
  }

  /** Answers "queued" and starts the heartbeat and the run; false when nobody can hear the answer. */
  begin(): boolean {
    if (!this.sendProgress()) {
      this.log.warn("task without a reply subject ignored");
      this.span.span.end();
      this.resolveDone();
      return false;
    }
    const period = Math.min(Math.max(this.task.heartbeatMs || this.agent.settings.heartbeatMs, HEARTBEAT_BOUNDS.minMs), HEARTBEAT_BOUNDS.maxMs);
    this.heartbeat = setInterval(() => this.sendProgress(), period);
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
    return this.agent.reply(this.msg, { taskId: this.task.taskId, progress: this.progress });
  }

  private async execute(): Promise<void> {
    const region = this.task.region;
    metrics.tasksInFlightAgent.inc({ region, state: "queued" });
    let release: Release;
    try {
      release = await this.agent.slots.acquire(this.controller.signal);
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
      this.log.info({ host: this.task.host, mx: this.task.mx, attempt: this.task.attempt, waitedMs }, "task started");
      let result: TargetResult;
      try {
        result = await probeTarget(
          { host: this.task.host, port: this.task.port, mx: this.task.mx },
          // The task's deadline bounds the probe's: the engine reports DEADLINE_EXCEEDED itself.
          { ...this.options, deadlineMs: Math.max(1, Math.min(this.options.deadlineMs, remainingMs)) },
          {
            signal: this.controller.signal,
            onProgress: (p) => this.onProgress(p),
            policy: this.agent.deps.policy,
            gate: this.agent.settings.permits ? this.agent.permitGate(this.task) : undefined,
            dnsServers: this.agent.settings.dnsServers,
            extraCa: this.agent.settings.extraCa,
          },
        );
      } catch (error) {
        // Only a bug in our code throws (the engine turns every target's misbehaviour into data).
        this.log.error({ err: error }, "the probe failed");
        this.stopHeartbeat();
        this.agent.reply(this.msg, { taskId: this.task.taskId, error: `internal error in the agent: ${error instanceof Error ? error.message : String(error)}` });
        return;
      }
      if (this.stopReason === "shutdown") relabelShutdown(result);
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
    if (now - this.lastProgressAt >= PROGRESS_MIN_GAP_MS) {
      this.lastProgressAt = now;
      this.sendProgress();
    }
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.queueDeadline);
  }

  private finish(result: TargetResult): void {
    this.stopHeartbeat();
    const { maxResultBytes, agentId } = this.agent.settings;
    // The envelope around the result: task id, agent id, and the result's tag and length (≤ 6).
    const envelope = AgentMessage.encode(AgentMessage.fromPartial({ taskId: this.task.taskId, agentId })).finish().length + 6;
    const trimmed = trimResult(result, maxResultBytes - envelope);
    if (trimmed.result !== result) {
      this.log.warn(
        { bytes: trimmed.bytes, originalBytes: trimmed.originalBytes, droppedEntries: trimmed.droppedEntries, textsCut: trimmed.textsCut, maxResultBytes },
        "result trimmed to fit one message",
      );
    }
    const ms = Math.round(performance.now() - this.received);
    const outcome = summarizeOutcome(trimmed.result);
    countHandshakes(this.task.region, this.task.port, result);
    if (!trimmed.fits) {
      this.log.error({ bytes: trimmed.bytes, maxResultBytes, outcome, ms }, "task done: result too large even trimmed");
      this.agent.reply(this.msg, {
        taskId: this.task.taskId,
        error: `the result is ${trimmed.bytes} bytes even trimmed, over the agent's bound of ${maxResultBytes} bytes`,
      });
      return;
    }
    const answered = this.agent.reply(this.msg, { taskId: this.task.taskId, result: trimmed.result });
    this.agent.taskFinished(answered);
    this.log.info({ outcome, ms, stopped: this.stopReason }, "task done");
  }

  /** The result of a task that never got a slot: one handshake that says why, no connection made. */
  private notRun(reason: StopReason): TargetResult {
    const waitedMs = Math.round(performance.now() - this.received);
    const [outcome, text] =
      reason === "deadline"
        ? [
            Outcome.OUTCOME_DEADLINE_EXCEEDED,
            this.arrivedLate
              ? `the task's deadline (${this.task.deadline!.toISOString()}) had passed when it reached the agent`
              : `the task's deadline passed after ${waitedMs} ms waiting for a free slot at the agent (all ${this.agent.settings.concurrency} busy)`,
          ]
        : reason === "shutdown"
          ? [Outcome.OUTCOME_CANCELLED, "the agent shut down before the task got a free slot"]
          : [Outcome.OUTCOME_CANCELLED, "cancelled by the caller while waiting for a free slot at the agent"];
    return {
      host: this.task.host,
      port: this.task.port,
      mx: this.task.mx,
      exchangers: [],
      handshakes: [
        stoppedBeforeConnecting({
          where: { host: this.task.host, port: this.task.port },
          tlsMode: this.options.tlsMode,
          outcome,
          phase: Phase.PHASE_UNSPECIFIED,
          failureSource: FailureSource.FAILURE_SOURCE_INTERNAL,
          reason: text,
        }),
      ],
      totalMs: 0,
    };
  }
}

/** The engine says "cancelled by the caller"; when the agent's own shutdown did it, say so. */
function relabelShutdown(result: TargetResult): void {
  for (const handshake of result.handshakes) {
    if (handshake.outcome === Outcome.OUTCOME_CANCELLED) {
      handshake.reason = "the agent shut down before the probe finished";
      handshake.failureSource = FailureSource.FAILURE_SOURCE_INTERNAL;
    }
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
