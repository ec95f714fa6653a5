// Whether a decoded task can run at this agent, and how: its options with the agent's defaults,
// and its heartbeat period within the bounds. Pure; the agent answers a problem as "invalid task".
import type { Task } from "../../gen/smtpprobe/agent/v1/agent.js";
import { HEARTBEAT_BOUNDS } from "../../lib/bus.js";
import { isPort } from "../../lib/host-name.js";
import { InvalidOptionsError, resolveOptions, type ResolvedOptions } from "../smtp/options.js";

export const MAX_TASK_ID = 128;
export const MAX_HOST = 255;
/** A lease id as the coordinator writes it: instance and lease, well under this. */
export const MAX_LEASE_ID = 64;

export type TaskCheck = { kind: "ok"; options: ResolvedOptions } | { kind: "invalid"; problem: string };

/** Why the task cannot run (the field first), or its resolved options. */
export function checkTask(task: Task, agent: { region: string; defaultEhloName?: string }): TaskCheck {
  const problem = checkFields(task, agent.region);
  if (problem) return { kind: "invalid", problem };
  try {
    return { kind: "ok", options: resolveOptions(task.options, task.port, agent.defaultEhloName) };
  } catch (error) {
    if (!(error instanceof InvalidOptionsError)) throw error;
    return { kind: "invalid", problem: `options.${error.violations.map((v) => `${v.field}: ${v.message}`).join("; options.")}` };
  }
}

function checkFields(task: Task, region: string): string | undefined {
  if (task.region !== region) return `region: ${JSON.stringify(task.region)} is not this agent's region ${JSON.stringify(region)}`;
  if (!task.taskId) return "task_id: missing";
  if (task.taskId.length > MAX_TASK_ID) return `task_id: longer than ${MAX_TASK_ID} characters`;
  if (!task.host) return "host: missing";
  if (task.host.length > MAX_HOST) return `host: longer than ${MAX_HOST} characters`;
  if (!isPort(task.port)) return `port: must be from 1 to 65535, not ${task.port}`;
  if (!task.deadline || !Number.isFinite(task.deadline.getTime())) return "deadline: missing";
  if (task.permitLeaseId.length > MAX_LEASE_ID) return `permit_lease_id: longer than ${MAX_LEASE_ID} characters`;
  return undefined;
}

/** The task's heartbeat_ms, or the agent's when it is 0, held within HEARTBEAT_BOUNDS. */
export function heartbeatPeriodMs(taskHeartbeatMs: number, agentHeartbeatMs: number): number {
  return Math.min(Math.max(taskHeartbeatMs || agentHeartbeatMs, HEARTBEAT_BOUNDS.minMs), HEARTBEAT_BOUNDS.maxMs);
}
