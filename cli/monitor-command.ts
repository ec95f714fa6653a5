// `smtp-probe monitor create|list|get|delete|watch --coordinator ADDR`: the MonitorService from the
// command line. create, get and delete print the monitor (one line, or with --json the Monitor in
// the protobuf JSON form); list pages through the caller's monitors (one line each, or one Monitor
// per line with --json); watch prints each run as it ends (one line, a line per verdict that
// changed and one per region's fact that changed, or one MonitorEvent per line with --json) until
// --count runs or Ctrl-C, with --after RUN first the kept runs after that one (--from-oldest:
// every kept run); when it stops early it says how to resume. The monitor runs on the
// coordinators whatever happens to this command.
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { ListMonitorsResponse, Monitor, MonitorEvent, RegionChangeKind, type CreateMonitorRequest, type RegionChange } from "../gen/smtpprobe/v1/monitor.js";
import { verdictKindToJSON } from "../gen/smtpprobe/v1/probe_service.js";
import { protoJson } from "../lib/proto-json.js";
import { callFailureReporter } from "./call-failure-output.js";
import type { CheckDeps } from "./check-command.js";
import type { CoordinatorAddress } from "./coordinator-address.js";
import type { CoordinatorCredentials } from "./coordinator-credentials.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { callMetadata, createMonitorClient } from "./grpc-client.js";

export type MonitorAction =
  | { kind: "create"; request: CreateMonitorRequest }
  | { kind: "list" }
  | { kind: "get" | "delete"; monitorId: string }
  | { kind: "watch"; monitorId: string; changesOnly: boolean; count: number | undefined; afterRun: number; fromOldest: boolean };

export interface MonitorRunRequest {
  coordinator: CoordinatorAddress;
  credentials: CoordinatorCredentials;
  action: MonitorAction;
  json: boolean;
}

/** Each unary call's deadline. */
export const MONITOR_CALL_TIMEOUT_MS = 15_000;
/** Pages of a listing at most: 1000 monitors a page, far more than a caller may keep. */
const MAX_PAGES = 100;

export async function runMonitor(request: MonitorRunRequest, deps: CheckDeps): Promise<ExitCodeValue> {
  const client = createMonitorClient(request.coordinator.target, request.credentials);
  const metadata = callMetadata(request.credentials);
  const failed = callFailureReporter(request, request.json, deps);
  const unary = <T>(call: (callback: (error: ServiceError | null, value?: T) => void) => void): Promise<{ value: T } | { error: ServiceError }> =>
    new Promise((resolve) => call((error, value) => resolve(error || value === undefined ? { error: error! } : { value })));
  const deadline = () => ({ deadline: Date.now() + MONITOR_CALL_TIMEOUT_MS });
  const print = (monitor: Monitor): void => {
    deps.stdout.write(request.json ? `${JSON.stringify(protoJson("smtpprobe.v1.Monitor", Monitor.encode(monitor).finish()))}\n` : `${formatMonitor(monitor)}\n`);
  };
  try {
    const { action } = request;
    switch (action.kind) {
      case "create":
      case "get":
      case "delete": {
        const answer = await unary<Monitor>((cb) =>
          action.kind === "create"
            ? client.createMonitor(action.request, metadata, deadline(), cb)
            : action.kind === "get"
              ? client.getMonitor({ monitorId: action.monitorId }, metadata, deadline(), cb)
              : client.deleteMonitor({ monitorId: action.monitorId }, metadata, deadline(), cb),
        );
        if ("error" in answer) return await failed(answer.error, MONITOR_CALL_TIMEOUT_MS);
        print(answer.value);
        if (action.kind === "create" && !request.json) deps.stderr.write(`watch its runs: smtp-probe monitor watch ${answer.value.monitorId}\n`);
        if (action.kind === "delete" && !request.json) deps.stderr.write(`monitor ${answer.value.monitorId} deleted\n`);
        return ExitCode.ok;
      }
      case "list": {
        let pageToken = "";
        for (let page = 0; page < MAX_PAGES; page++) {
          const answer = await unary<ListMonitorsResponse>((cb) => client.listMonitors({ pageSize: 1000, pageToken }, metadata, deadline(), cb));
          if ("error" in answer) return await failed(answer.error, MONITOR_CALL_TIMEOUT_MS);
          answer.value.monitors.forEach(print);
          pageToken = answer.value.nextPageToken;
          if (pageToken === "") break;
        }
        return ExitCode.ok;
      }
      case "watch":
        return await watch(client.watchMonitor({ monitorId: action.monitorId, changesOnly: action.changesOnly, afterRun: action.afterRun, fromOldest: action.fromOldest }, metadata), action, request.json, deps, failed);
    }
  } finally {
    client.close();
  }
}

/** Why a watch ended that a new one gets over (too far behind, the coordinator gone or stopping): it says how to resume. */
const RESUMABLE: ReadonlySet<number> = new Set([status.RESOURCE_EXHAUSTED, status.UNAVAILABLE, status.CANCELLED, status.DEADLINE_EXCEEDED]);

async function watch(
  stream: ClientReadableStream<MonitorEvent>,
  { monitorId, count, afterRun }: { monitorId: string; count: number | undefined; afterRun: number },
  json: boolean,
  deps: CheckDeps,
  failed: (error: ServiceError, timeoutMs: number) => Promise<ExitCodeValue>,
): Promise<ExitCodeValue> {
  let seen = 0;
  let lastRun = afterRun;
  const cancel = (): void => stream.cancel();
  deps.signal.addEventListener("abort", cancel, { once: true });
  const ended = await new Promise<{ error?: ServiceError }>((resolve) => {
    stream.on("data", (event: MonitorEvent) => {
      if (count !== undefined && seen >= count) return;
      seen += 1;
      lastRun = event.run;
      deps.stdout.write(json ? `${JSON.stringify(protoJson("smtpprobe.v1.MonitorEvent", MonitorEvent.encode(event).finish()))}\n` : formatRun(event));
      if (count !== undefined && seen >= count) {
        stream.cancel();
        resolve({});
      }
    });
    stream.on("error", (error: ServiceError) => resolve(count !== undefined && seen >= count ? {} : { error }));
    stream.on("end", () => resolve({}));
  });
  deps.signal.removeEventListener("abort", cancel);
  const resumable = deps.signal.aborted || (ended.error !== undefined && RESUMABLE.has(ended.error.code));
  if (resumable && lastRun > 0) deps.stderr.write(`monitor ${monitorId}: the watch stopped; the monitor goes on. Resume: smtp-probe monitor watch ${monitorId} --after ${lastRun}\n`);
  if (deps.signal.aborted) return ExitCode.interrupted;
  if (ended.error) return failed(ended.error, 0);
  return ExitCode.ok;
}

/** "<id>  mx.example.com ports 25,587 from eu-west every 300s, since <time> → <webhook>" */
export function formatMonitor(monitor: Monitor): string {
  const probe = monitor.probe;
  const ports = probe?.ports.length ? ` ports ${probe.ports.join(",")}` : "";
  const regions = probe?.regions.length ? ` from ${probe.regions.join(",")}` : "";
  const since = monitor.createdAt ? `, since ${monitor.createdAt.toISOString()}` : "";
  const hook = monitor.webhookUrl ? ` → ${monitor.webhookUrl}` : "";
  return `${monitor.monitorId}  ${probe?.host ?? "?"}${ports}${regions} every ${monitor.intervalSeconds}s${since}${hook}`;
}

/**
 * A run: "run 12: <verdict summaries>" (or "run 12 refused: why"), then "  + KIND on port N" per
 * verdict change and "  ~ certificate on port 25 from eu-west: A → B" per region change.
 */
export function formatRun(event: MonitorEvent): string {
  if (event.error !== "") return `run ${event.run} refused: ${event.error}\n`;
  const verdicts = event.report?.comparison?.verdicts.map((v) => v.summary) ?? [];
  const lines = [`run ${event.run}${event.first ? " (first)" : ""}: ${verdicts.join(" ") || "no verdict"}`];
  for (const change of event.changes) lines.push(`  ${change.appeared ? "+" : "-"} ${verdictKindToJSON(change.kind).replace(/^VERDICT_KIND_/, "")} on port ${change.port}`);
  for (const change of event.regionChanges) lines.push(`  ~ ${formatRegionChange(change)}`);
  return `${lines.join("\n")}\n`;
}

const REGION_CHANGE_LABELS: Readonly<Partial<Record<RegionChangeKind, string>>> = {
  [RegionChangeKind.REGION_CHANGE_KIND_REACHABILITY]: "reachability",
  [RegionChangeKind.REGION_CHANGE_KIND_STARTTLS]: "STARTTLS",
  [RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE]: "certificate",
  [RegionChangeKind.REGION_CHANGE_KIND_TLS_VERSION]: "TLS version",
  [RegionChangeKind.REGION_CHANGE_KIND_MTA_STS]: "MTA-STS",
  [RegionChangeKind.REGION_CHANGE_KIND_DANE]: "DANE",
  [RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY]: "certificate expiry",
};

/** "certificate on port 25 from eu-west: AA:… → BB:…"; an expiry says the threshold it fell below. */
export function formatRegionChange(change: RegionChange): string {
  const label = REGION_CHANGE_LABELS[change.kind] ?? `change ${change.kind}`;
  const below = change.kind === RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY && change.thresholdDays > 0 ? ` (under ${change.thresholdDays} day${change.thresholdDays === 1 ? "" : "s"})` : "";
  return `${label} on port ${change.port} from ${change.region}: ${change.before} → ${change.after}${below}`;
}
