// The Prometheus metrics of every process (prom-client), defined once per process at module scope,
// as prom-client intends: in the embedded mode the coordinator and its agent share one process and
// one registry, and tests that start several instances in one process read deltas.
//
// Label values are bounded: regions are checked tokens (and the coordinator labels a region that
// no agent serves "unknown"), ports come from the policy's allowed set, outcomes, phases, statuses
// and reasons from enums of the contract or fixed lists here. No host name, address or caller is
// ever a label value (callers are an operator-configured set, but unbounded in principle; the
// audit log has them).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export const registry = new Registry();
/** How often the event-loop lag (nodejs_eventloop_lag_*) is sampled. */
export const EVENT_LOOP_SAMPLE_MS = 50;
// The standard process_* and nodejs_* series, unprefixed, as dashboards for Node.js services expect them.
// The event-loop lag is sampled every EVENT_LOOP_SAMPLE_MS rather than prom-client's 10 ms: each
// sample is a timer wake-up of the process, and at 10 ms they cost every process ~6 ms of CPU a
// second when idle (bench/README.md), twenty-two processes in the fan-out bench.
collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });

/** Why the coordinator refused a call or a part of one, before any agent worked on it. */
export type RejectReason =
  | "unauthenticated"
  | "invalid_argument"
  | "permission_denied"
  | "deny_list"
  | "caller_quota"
  /** The coordinator-wide bound of executions in flight (load shedding), not one caller's quota. */
  | "overloaded"
  | "destination_throttle"
  | "unavailable"
  | "no_region"
  /** The call's gRPC deadline leaves less than the shortest probe (probe-deadline.ts). */
  | "deadline_too_short"
  /** An idempotency key first used with another request (AIP-155). */
  | "idempotency_key_reused";

/** Why the coordinator dropped a message an agent sent. */
export type DroppedMessageReason = "undecodable" | "other_task" | "other_agent" | "invalid" | "late" | "unknown_reply_subject" | "too_large";

export const metrics = {
  // ---- coordinator ----
  probes: new Counter({
    name: "smtpprobe_probes_total",
    help: "Probe calls answered with a report, by whether every task returned a result (complete) and the call kind (unary, stream, batch item, Prometheus scrape).",
    labelNames: ["complete", "call"] as const,
    registers: [registry],
  }),
  tasks: new Counter({
    name: "smtpprobe_tasks_total",
    help: "Tasks (one region × port of a probe) ended at the coordinator, by region, port and status.",
    labelNames: ["region", "port", "status"] as const,
    registers: [registry],
  }),
  tasksInFlightCoordinator: new Gauge({
    name: "smtpprobe_coordinator_tasks_in_flight",
    help: "Tasks dispatched by this coordinator and not ended yet, by region.",
    labelNames: ["region"] as const,
    registers: [registry],
  }),
  agentsOnline: new Gauge({
    name: "smtpprobe_agents_online",
    help: "Agents that answered the last discovery, by region.",
    labelNames: ["region"] as const,
    registers: [registry],
  }),
  requestsRejected: new Counter({
    name: "smtpprobe_requests_rejected_total",
    help: "Calls refused before any agent worked on them, by reason.",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  agentMessagesDropped: new Counter({
    name: "smtpprobe_agent_messages_dropped_total",
    help: "Messages from agents the coordinator dropped (not for a task it assigned, from another agent, invalid, too late), by reason.",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  // ---- agent ----
  handshakes: new Counter({
    name: "smtpprobe_handshakes_total",
    help: "Handshakes an agent ran (one per address of a task), by region, port and outcome.",
    labelNames: ["region", "port", "outcome"] as const,
    registers: [registry],
  }),
  phaseDuration: new Histogram({
    name: "smtpprobe_phase_duration_seconds",
    help: "Duration of each handshake phase that completed, by region and phase.",
    labelNames: ["region", "phase"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  }),
  tasksInFlightAgent: new Gauge({
    name: "smtpprobe_agent_tasks_in_flight",
    help: "Tasks an agent holds (running or queued), by region and state.",
    labelNames: ["region", "state"] as const,
    registers: [registry],
  }),
  // ---- both ----
  natsConnected: new Gauge({
    name: "smtpprobe_nats_connected",
    help: "1 while the process is connected to NATS (always 1 in the embedded mode), by role.",
    labelNames: ["role"] as const,
    registers: [registry],
  }),
};

/** "OUTCOME_REFUSED" → "refused": a label value from a closed enum of the contract (Outcome[x], Phase[x], ...). */
export function enumLabel(name: string | undefined, prefix: string): string {
  return name === undefined ? "unknown" : name.slice(prefix.length).toLowerCase();
}

/** The value of a counter or gauge with these labels (0 when never touched); for tests and benchmarks. */
export async function metricValue(metric: Counter | Gauge, labels: Record<string, string> = {}): Promise<number> {
  const data = await metric.get();
  const match = data.values.find((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value));
  return match?.value ?? 0;
}

/** The catalog as documentation: the metrics table of docs/operations.md is made from this (scripts/docs.ts). */
export const METRIC_DOCS: readonly { name: string; type: "counter" | "gauge" | "histogram"; labels: readonly string[]; help: string }[] = Object.values(metrics).map(
  (metric) => {
    const { name, help, labelNames } = metric as unknown as { name: string; help: string; labelNames?: readonly string[] };
    const type = metric instanceof Histogram ? "histogram" : metric instanceof Gauge ? "gauge" : "counter";
    return { name, type, labels: [...(labelNames ?? [])], help };
  },
);
