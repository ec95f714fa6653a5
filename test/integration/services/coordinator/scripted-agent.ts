// Agents written against the bus for the coordinator's tests: each takes its region's tasks from
// the queue group, as a real agent does, and answers as the test's script says — results, silence,
// heartbeats with no result, death after the first progress, invalid results. Every timer an
// agent starts is stopped by stop() or by a CancelTask for its task.
import { randomUUID } from "node:crypto";
import { SUBJECTS, type Bus, type BusMessage, type BusSubscription } from "../../../../lib/bus.js";
import { Direction, Outcome, Phase, TargetResult, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { AgentMessage, CancelTask, Task } from "../../../../gen/smtpprobe/agent/v1/agent.js";

export interface TaskHandle {
  readonly task: Task;
  readonly agent: ScriptedAgent;
  /** Sends an AgentMessage to the task's reply subject; taskId and agentId default to the task's and the agent's. */
  send(message: Partial<AgentMessage>): void;
  progress(phase: Phase, queued?: boolean): void;
  result(result?: TargetResult): void;
  error(text: string): void;
  /** Progress every task.heartbeatMs until the task is cancelled or the agent stops. */
  heartbeat(phase: Phase): void;
  /** Runs `fn` after `ms`, unless the agent has stopped by then. */
  later(ms: number, fn: () => void): void;
}

export type Script = (handle: TaskHandle) => void;

export interface ScriptedAgent {
  readonly id: string;
  readonly region: string;
  /** Every task received, in order. */
  readonly tasks: Task[];
  /** Every CancelTask seen on the region's cancel subject. */
  readonly cancels: CancelTask[];
  /** Resolves once the bus has the agent's subscriptions: a round trip through the server. */
  ready(): Promise<void>;
  /** The agent dies: its subscriptions go and its timers stop. */
  stop(): void;
  readonly stopped: boolean;
}

export function startScriptedAgent(bus: Bus, region: string, script: Script, id = `agent-${region}-${randomUUID().slice(0, 8)}`): ScriptedAgent {
  const subs: BusSubscription[] = [];
  const timers = new Map<string, Set<NodeJS.Timeout>>(); // per task id
  let stopped = false;

  const clearTimers = (taskId: string): void => {
    for (const timer of timers.get(taskId) ?? []) clearTimeout(timer);
    timers.delete(taskId);
  };
  const track = (taskId: string, timer: NodeJS.Timeout): void => {
    const set = timers.get(taskId) ?? new Set();
    set.add(timer);
    timers.set(taskId, set);
  };

  const agent: ScriptedAgent = {
    id,
    region,
    tasks: [],
    cancels: [],
    get stopped() {
      return stopped;
    },
    async ready() {
      for (let i = 0; i < 100; i++) {
        const answered = await new Promise<boolean>((resolve) => {
          const sub = bus.request(`test.ping.${id}`, new Uint8Array(), (event) => {
            sub.unsubscribe();
            resolve(event.kind === "message");
          });
        });
        if (answered) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`scripted agent ${id} never became ready`);
    },
    stop() {
      stopped = true;
      for (const sub of subs.splice(0)) sub.unsubscribe();
      for (const taskId of [...timers.keys()]) clearTimers(taskId);
    },
  };

  const onTask = (msg: BusMessage): void => {
    if (stopped) return;
    const task = Task.decode(msg.data);
    agent.tasks.push(task);
    const send = (message: Partial<AgentMessage>): void => {
      if (stopped) return;
      msg.respond(AgentMessage.encode(AgentMessage.fromPartial({ taskId: task.taskId, agentId: id, ...message })).finish());
    };
    const progress = (phase: Phase, queued = false): void =>
      send({ progress: { taskId: task.taskId, region, port: task.port, agentId: id, phase, host: task.host, address: "192.0.2.10", queued } });
    const handle: TaskHandle = {
      task,
      agent,
      send,
      progress,
      result: (result) => send({ result: result ?? resultFor(task) }),
      error: (text) => send({ error: text }),
      heartbeat: (phase) => {
        progress(phase);
        const timer = setInterval(() => progress(phase), task.heartbeatMs);
        track(task.taskId, timer);
      },
      later: (ms, fn) => {
        const timer = setTimeout(() => {
          timers.get(task.taskId)?.delete(timer);
          if (!stopped) fn();
        }, ms);
        track(task.taskId, timer);
      },
    };
    script(handle);
  };

  subs.push(bus.subscribe(SUBJECTS.task(region), onTask, { queue: SUBJECTS.queue(region) }));
  subs.push(
    bus.subscribe(SUBJECTS.cancel(region), (msg) => {
      const cancel = CancelTask.decode(msg.data);
      agent.cancels.push(cancel);
      clearTimers(cancel.taskId);
    }),
  );
  // Subscribed last: once it answers, the subscriptions above are known to the server too.
  subs.push(bus.subscribe(`test.ping.${id}`, (msg) => void msg.respond(new Uint8Array())));
  return agent;
}

/** A successful handshake on the task's host and port. */
export function resultFor(task: Task, over: Partial<TargetResult> = {}): TargetResult {
  return TargetResult.fromPartial({
    host: task.host,
    port: task.port,
    mx: task.mx,
    handshakes: [
      {
        host: task.host,
        address: "192.0.2.10",
        port: task.port,
        outcome: Outcome.OUTCOME_OK,
        phase: Phase.PHASE_DONE,
        tlsMode: task.options?.tlsMode ?? TlsMode.TLS_MODE_AUTO,
        banner: { code: 220, lines: [`${task.host} ESMTP`] },
        totalMs: 12,
        transcript: { entries: [{ offsetMs: 1, direction: Direction.DIRECTION_SERVER, text: `220 ${task.host} ESMTP` }], bytes: 20 },
      },
    ],
    totalMs: 13,
    ...over,
  });
}

// ---- scripts ----

/** A progress, then the result after `delayMs`. */
export const answers =
  (delayMs = 10): Script =>
  (h) => {
    h.progress(Phase.PHASE_CONNECT);
    h.later(delayMs, () => h.result());
  };

/** Takes the task and never says a word. */
export const silent: Script = () => undefined;

/** One progress, then silence (a hung process). */
export const progressThenSilent: Script = (h) => h.progress(Phase.PHASE_BANNER);

/** One progress, then the process dies: its subscriptions are gone. */
export const progressThenDies: Script = (h) => {
  h.progress(Phase.PHASE_BANNER);
  h.agent.stop();
};

/** Alive and working, but never finishing: heartbeats until cancelled. */
export const heartbeatsForever =
  (phase = Phase.PHASE_BANNER): Script =>
  (h) =>
    h.heartbeat(phase);

/** Scripts by attempt: the first attempt's script, the second's, ... */
export const byAttempt =
  (...scripts: Script[]): Script =>
  (h) =>
    (scripts[h.task.attempt - 1] ?? silent)(h);
