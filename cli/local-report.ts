// The local mode's results as the ProbeReport a coordinator returns, with this machine as its one
// region, `local` (the name an embedded coordinator gives its own agent): a task per port with its
// TargetResult, the coordinator's comparison, the request as run, the timings. So `--json` has one
// shape whether the probe ran here or through a coordinator, and one parser reads both. Pure.
import type { TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { type Comparison, ProbeReport, ProbeRequest } from "../gen/smtpprobe/v1/probe_service.js";
import type { CheckRequest } from "./check-args.js";
import { compareLocalResults, LOCAL_REGION, localTasks } from "./local-verdicts.js";

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
    // The sentences as the human form prints them ("Port 25 is open from this machine."), the
    // region named `local` wherever a program reads it.
    comparison: renameRegion(compareLocalResults(run.results, LOCAL_REGION), LOCAL_REGION, region),
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: run.finishedAt.getTime() - run.startedAt.getTime(),
    complete: !run.interrupted,
    deadlineMs,
    callerDeadlineBound: false,
  });
}

/** The comparison with one region's name replaced in every field that names a region (not in the sentences). */
export function renameRegion(comparison: Comparison, from: string, to: string): Comparison {
  const name = (region: string): string => (region === from ? to : region);
  return {
    cells: comparison.cells.map((c) => ({ ...c, region: name(c.region) })),
    verdicts: comparison.verdicts.map((v) => ({
      ...v,
      regions: v.regions.map(name),
      causes: v.causes.map((c) => ({ ...c, region: name(c.region) })),
      failedAddresses: v.failedAddresses.map((f) => ({ ...f, region: name(f.region) })),
    })),
    missing: comparison.missing.map((m) => ({ ...m, region: name(m.region) })),
    unknownRegions: comparison.unknownRegions.map(name),
  };
}
