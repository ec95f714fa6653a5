// The regional agent (docs/design.md §1, §3): serves its region's tasks over the bus, runs the engine
// under the target policy with bounded concurrency, streams progress (also the heartbeat) to each
// task's reply subject, and answers with the result. It depends on the Bus interface only, so the
// same code runs over NATS and in-process (embedded mode); main.ts only has to build the config,
// the bus, the policy and the logger, call startAgent() and, on SIGTERM, stop() then drain.
// This module is the agent's lifecycle: serving, checking tasks, cancels, stats and stop. One task's
// run is task-run.ts; the throttle's permits are permit-client.ts; the config is agent-config.ts.
import type { EgressCheck } from "../../gen/smtpprobe/v1/probe_service.js";
import { CancelTask, Task, type AgentMessage } from "../../gen/smtpprobe/agent/v1/agent.js";
import { BUS_HEADERS, SUBJECTS, type Bus, type BusMessage, type BusSubscription, type ServedService } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import type { TargetPolicy } from "../../lib/policy/policy-types.js";
import { AGENT_DEFAULTS, resolveAgentConfig, type AgentConfig, type ResolvedAgentConfig } from "./agent-config.js";
import { agentStats, type AgentStats } from "./agent-info.js";
import { encodeAgentMessage } from "./agent-message.js";
import { AgentResolver } from "../dns/agent-resolver.js";
import { EgressCanary } from "./canary.js";
import { EgressPostureWatch, type EgressPostureReading } from "./egress-posture.js";
import { createPermitClient, type PermitClient } from "./permit-client.js";
import { Semaphore } from "./semaphore.js";
import { checkTask, heartbeatPeriodMs } from "./task-check.js";
import { TaskRun } from "./task-run.js";
import { serveDomainChecks, type DomainService } from "./domain-service.js";

/** Deadline of one round of the egress address's DNS questions. */
const EGRESS_POSTURE_DEADLINE_MS = 10_000;

export interface AgentDeps {
  bus: Bus;
  /** Applied by the engine to every resolved address (lib/policy/target-policy.ts builds it). */
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
  /** Reads the egress address's reverse DNS and listings now (or joins the running round); undefined without --egress-address. */
  checkEgressPosture(): Promise<EgressPostureReading | undefined>;
  /**
   * Stops taking tasks (leaves the queue group), lets the tasks it has finish for up to `graceMs`
   * (default 10 000), then aborts the rest, which answer with CANCELLED results. Stops the canary.
   * Does not drain the bus: the caller owns it. Calling it again returns the same promise.
   */
  stop(graceMs?: number): Promise<void>;
}

/** Serves the region's tasks until stop(). Throws InvalidAgentConfigError for a bad config. */
export async function startAgent(config: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const agent = new Agent(resolveAgentConfig(config), deps);
  return agent.start();
}

class Agent {
  private readonly startedAt = new Date();
  private readonly log: Logger;
  private readonly slots: Semaphore;
  private readonly canary: EgressCanary;
  /** Tasks accepted and not yet answered, by task id (a retried task may arrive twice). */
  private readonly runs = new Map<string, Set<TaskRun>>();
  private accepting = true;
  private tasksDone = 0;
  private served: ServedService | undefined;
  private cancelSub: BusSubscription | undefined;
  private domainChecks: DomainService | undefined;
  private stopping: Promise<void> | undefined;
  /** The agent's DNS cache, shared by its domain checks and its egress posture. */
  private readonly resolver: AgentResolver;
  /** Undefined without an egress address. */
  private readonly egressPosture: EgressPostureWatch | undefined;
  /** Undefined when the config turns permits off. */
  private readonly permits: PermitClient | undefined;

  constructor(
    private readonly settings: ResolvedAgentConfig,
    private readonly deps: AgentDeps,
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
    this.resolver = new AgentResolver({ servers: settings.dnsServers ?? [] });
    this.egressPosture = settings.egressAddress
      ? new EgressPostureWatch({
          address: settings.egressAddress,
          zones: settings.blocklists ? settings.egressBlocklistZones : [],
          resolver: this.resolver,
          intervalMs: settings.egressCheckIntervalMs,
          deadlineMs: EGRESS_POSTURE_DEADLINE_MS,
          logger: this.log,
        })
      : undefined;
    this.permits = settings.permits ? createPermitClient({ bus: deps.bus, region: settings.region, logger: this.log }) : undefined;
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
      this.domainChecks?.stop();
      throw error;
    }
    this.canary.start();
    this.egressPosture?.start();
    this.domainChecks = serveDomainChecks({ bus, region, agentId, resolver: this.resolver, blocklists: this.settings.blocklists, logger: this.log });
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
      checkEgressPosture: async () => this.egressPosture?.check(),
      stop: (graceMs) => this.stop(graceMs ?? AGENT_DEFAULTS.stopGraceMs),
    };
  }

  private stats(): AgentStats {
    return agentStats({
      agent_id: this.settings.agentId,
      region: this.settings.region,
      in_flight: this.slots.inUse,
      queued: this.slots.waiting,
      capacity: this.settings.concurrency,
      tasks_done: this.tasksDone,
      startedAt: this.startedAt,
      egress: this.canary.egress(),
      egressPosture: this.egressPosture?.latest(),
    });
  }

  /** Sends one AgentMessage to a task's reply subject; false when there is none or sending failed. */
  private reply(msg: BusMessage, message: Partial<AgentMessage>): boolean {
    try {
      return msg.respond(encodeAgentMessage({ agentId: this.settings.agentId, ...message }));
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
    const checked = checkTask(task, this.settings);
    if (checked.kind === "invalid") {
      this.reject(msg, task.taskId, `invalid task: ${checked.problem}`, task.probeId);
      return;
    }
    const run = new TaskRun({
      task,
      options: checked.options,
      traceparent: msg.headers[BUS_HEADERS.traceparent],
      reply: (message) => this.reply(msg, message),
      canReply: msg.canRespond,
      acquireSlot: (signal) => this.slots.acquire(signal),
      concurrency: this.settings.concurrency,
      engine: {
        policy: this.deps.policy,
        gate: this.permits?.gateFor(task),
        dnsServers: this.settings.dnsServers,
        extraCa: this.settings.extraCa,
        blocklistsOff: !this.settings.blocklists,
        // The posture option's lookups share the agent's cache with its domain checks.
        postureResolver: this.resolver,
      },
      heartbeatMs: heartbeatPeriodMs(task.heartbeatMs, this.settings.heartbeatMs),
      maxResultBytes: this.settings.maxResultBytes,
      agentId: this.settings.agentId,
      logger: this.log,
      onAnswered: () => {
        this.tasksDone += 1;
      },
    });
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

  private stop(graceMs: number): Promise<void> {
    this.stopping ??= (async () => {
      this.accepting = false;
      const canaryStopped = this.canary.stop();
      const egressPostureStopped = this.egressPosture?.stop();
      // A domain check is DNS questions only: it stops with the agent, its caller sees no answer.
      this.domainChecks?.stop();
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
      await egressPostureStopped;
      this.log.info({ tasksDone: this.tasksDone }, "agent stopped");
    })();
    return this.stopping;
  }
}

