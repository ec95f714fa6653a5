// The local mode's results as the ProbeReport a coordinator returns, with this machine as its one
// region, `local` (the name an embedded coordinator gives its own agent): a task per port with its
// TargetResult, the coordinator's comparison, the request as run, the timings. So `--json` has one
// shape whether the probe ran here or through a coordinator, and one parser reads both. Pure.
import type { TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { ProbeReport, ProbeRequest } from "../gen/smtpprobe/v1/probe_service.js";
import { compareRegions } from "../services/coordinator/compare.js";
import type { CheckRequest } from "./check-args.js";
import { localTasks } from "./local-verdicts.js";

/** The one region of a local report. */
export const LOCAL_REPORT_REGION = "local";

export interface LocalRun {
  /** A random id, as a coordinator gives each probe (nothing is stored under it here). */
  probeId: string;
  request: Pick<CheckRequest, "host" | "mx" | "targets" | "options">;
  /** One per port, in the request's order. */
  results: readonly TargetResult[];
  startedAt: Date;
  finishedAt: Date;
  /** Ctrl-C cut the probes short. */
  interrupted: boolean;
}

export function localReport(run: LocalRun): ProbeReport {
  const region = LOCAL_REPORT_REGION;
  const ports = run.request.targets.map((t) => t.port);
  const deadlineMs = run.request.targets[0]?.options.deadlineMs ?? 0;
  const tasks = localTasks(run.results, region);
  return ProbeReport.fromPartial({
    probeId: run.probeId,
    // As run, defaults filled in the way a coordinator echoes them: the options as given, with the
    // deadline used; each port's final TLS mode and role in tls_modes and port_roles.
    request: ProbeRequest.fromPartial({
      host: run.request.host,
      mx: run.request.mx,
      ports,
      // None asked for, as a coordinator echoes a request without regions; `regions` below has it.
      regions: [],
      options: { ...run.request.options, timeouts: { ...run.request.options.timeouts, deadlineMs } },
      tlsModes: Object.fromEntries(run.request.targets.map((t) => [t.port, t.options.tlsMode])),
      portRoles: Object.fromEntries(run.request.targets.map((t) => [t.port, t.options.portRole])),
    }),
    regions: [region],
    tasks,
    comparison: compareRegions(tasks, [region], ports),
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: run.finishedAt.getTime() - run.startedAt.getTime(),
    complete: !run.interrupted,
    deadlineMs,
    callerDeadlineBound: false,
  });
}
