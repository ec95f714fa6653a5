// What a streamed probe has shown so far (StreamProbe events folded into one state), and the
// report to print when the stream ends before its final report (Ctrl-C, a deadline). No I/O.
import {
  ProbeReport,
  TaskStatus,
  type ProbeAccepted,
  type ProbeEvent,
  type ProbeRequest,
  type TaskProgress,
  type TaskReport,
} from "../gen/smtpprobe/v1/probe_service.js";
import { compareRegions } from "../services/coordinator/compare.js";

export interface LiveProbe {
  accepted: ProbeAccepted | undefined;
  /** By cellKey(region, port): the task reports that landed. */
  tasks: Map<string, TaskReport>;
  /** By cellKey(region, port): the latest progress of tasks still running. */
  progress: Map<string, TaskProgress>;
  report: ProbeReport | undefined;
}

export function cellKey(region: string, port: number): string {
  return `${region}\u0000${port}`;
}

export function createLiveProbe(): LiveProbe {
  return { accepted: undefined, tasks: new Map(), progress: new Map(), report: undefined };
}

/** Folds one event into the state. A task report keeps the DONE one when a retry also answers. */
export function applyProbeEvent(state: LiveProbe, event: ProbeEvent): void {
  if (event.accepted) state.accepted = event.accepted;
  if (event.progress) {
    const key = cellKey(event.progress.region, event.progress.port);
    if (!state.tasks.has(key)) state.progress.set(key, event.progress);
  }
  if (event.task) {
    const key = cellKey(event.task.region, event.task.port);
    const previous = state.tasks.get(key);
    if (!(previous?.status === TaskStatus.TASK_STATUS_DONE && event.task.status !== TaskStatus.TASK_STATUS_DONE)) {
      state.tasks.set(key, event.task);
    }
    state.progress.delete(key);
  }
  if (event.report) state.report = event.report;
}

/** The planned regions and ports: from the acceptance, else from the request. */
export function plannedGrid(state: LiveProbe, request: ProbeRequest): { regions: string[]; ports: number[] } {
  return {
    regions: state.accepted?.regions ?? request.regions,
    ports: state.accepted?.ports ?? (request.ports.length > 0 ? request.ports : [25]),
  };
}

/** How many of the planned tasks have reported. */
export function countDone(state: LiveProbe, request: ProbeRequest): { done: number; total: number } {
  const { regions, ports } = plannedGrid(state, request);
  let done = 0;
  for (const region of regions) for (const port of ports) if (state.tasks.has(cellKey(region, port))) done += 1;
  return { done, total: regions.length * ports.length };
}

/**
 * The report of a probe whose stream ended early: the tasks that landed, the others with
 * `missing` (CANCELLED after Ctrl-C, TIMED_OUT after a deadline), compared the way the coordinator
 * compares (the same pure function). Undefined when the probe was never accepted.
 */
export function partialReport(state: LiveProbe, request: ProbeRequest, missing: TaskStatus, now: Date): ProbeReport | undefined {
  if (!state.accepted) return undefined;
  const { regions, ports } = plannedGrid(state, request);
  const detail = missing === TaskStatus.TASK_STATUS_CANCELLED ? "interrupted before a result came" : "no result before the deadline";
  const tasks = regions.flatMap((region) =>
    ports.map(
      (port) =>
        state.tasks.get(cellKey(region, port)) ??
        ({ taskId: "", region, port, status: missing, detail, agentId: "", attempts: 0, result: undefined, egress: undefined, agentEgressPosture: undefined, durationMs: 0 } satisfies TaskReport),
    ),
  );
  return ProbeReport.fromPartial({
    probeId: state.accepted.probeId,
    request: { ...request, ports, regions },
    regions,
    tasks,
    comparison: compareRegions(tasks, regions, ports),
    finishedAt: now,
    complete: false,
  });
}
