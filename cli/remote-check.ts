// `smtp-probe check --coordinator ADDR`: the probe runs on the coordinator's agents, through the
// StreamProbe RPC. While it runs, the region × port matrix is drawn live on stderr (a terminal
// only) as events arrive; at the end the report is printed once on stdout, in human form or as
// protobuf JSON. Returns the exit code (exit-codes.ts).
import type { DomainCheckEvent, DomainCheckReport } from "../gen/smtpprobe/v1/domain.js";
import type { PostureOptions } from "../gen/smtpprobe/v1/handshake.js";
import { formatDomainReport } from "./format-domain.js";
import type { ServiceError } from "@grpc/grpc-js";
import { ProbeReport, TaskStatus, type ProbeEvent } from "../gen/smtpprobe/v1/probe_service.js";
import type { ProbeServiceClient } from "../lib/probe-service-client.js";
import { describeCallFailure } from "./call-errors.js";
import { reportCallFailure } from "./call-failure-output.js";
import type { CheckDeps } from "./check-command.js";
import { makeStyle, shouldUseColor, type Style } from "./colors.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { exitCodeForReport } from "./report-exit-code.js";
import { formatMatrix, liveMatrixView, SPINNER } from "./format-matrix.js";
import { formatReport } from "./format-report.js";
import { outputWidth } from "./output-width.js";
import { probeReportJson } from "../lib/proto-json.js";
import { unavailableStatus } from "./cli-status.js";
import { callMetadata, createProbeClient } from "./grpc-client.js";
import { safe } from "./labels.js";
import { applyProbeEvent, countDone, createLiveProbe, partialReport, type LiveProbe } from "./live-probe.js";
import { LiveView } from "./live-view.js";
import type { RemoteCheckRequest } from "./remote-check-args.js";

/** How often the spinner of the live matrix turns. */
const FRAME_MS = 100;
/** "✔ 167 ms TLSv1.3", "⠋ EHLO over TLS": most cells fit, so columns rarely move while they change. */
const LIVE_CELL_WIDTH = 16;

export async function runRemoteCheck(request: RemoteCheckRequest, deps: CheckDeps): Promise<ExitCodeValue> {
  const state = createLiveProbe();
  const view = new LiveView(deps.stderr, deps.stderr.isTTY === true);
  const liveStyle = makeStyle(shouldUseColor({ colorAllowed: request.colorAllowed, env: deps.env, isTTY: deps.stderr.isTTY === true }));
  let frame = 0;
  const redraw = (): void => view.draw(liveLines(state, request, liveStyle, frame));
  const timer = view.enabled
    ? setInterval(() => {
        frame += 1;
        redraw();
      }, FRAME_MS)
    : undefined;
  timer?.unref();
  redraw();

  const client = createProbeClient(request.coordinator.target, request.credentials);
  let error: ServiceError | undefined;
  // --mx --posture: the mail domain's posture from the same regions (CheckDomain), beside the probe.
  const posture = request.request.options?.posture;
  const domainCheck = request.request.mx && posture ? checkDomainBeside(client, request, posture, deps.signal) : undefined;
  try {
    error = await streamProbe(client, request, state, deps.signal, redraw);
    if (state.report && domainCheck) state.report.domainCheck = await domainCheck;
  } finally {
    clearInterval(timer);
    view.clear();
    client.close();
  }

  if (deps.signal.aborted) {
    // Ctrl-C: the call was cancelled (and with it the agents' work); print what was seen.
    const report = state.report ?? partialReport(state, request.request, TaskStatus.TASK_STATUS_CANCELLED, new Date());
    if (report) printReport(report, request, deps);
    else deps.stderr.write("smtp-probe: interrupted before the coordinator accepted the probe\n");
    return ExitCode.interrupted;
  }
  if (error) {
    const failure = describeCallFailure(error, request.coordinator, request.callTimeoutMs);
    // A stream that broke after the probe was accepted still showed some regions: print them (with
    // --json that report is the one document on stdout; the error is on stderr).
    const partial = failure.exitCode === ExitCode.unavailable ? partialReport(state, request.request, TaskStatus.TASK_STATUS_TIMED_OUT, new Date()) : undefined;
    if (partial) printReport(partial, request, deps);
    return reportCallFailure(
      {
        error,
        coordinator: request.coordinator,
        tls: request.credentials?.tls !== undefined,
        callTimeoutMs: request.callTimeoutMs,
        json: request.json && !partial,
        answered: state.accepted !== undefined,
      },
      deps,
    );
  }
  if (!state.report) {
    const message = `coordinator ${request.coordinator.target} ended the stream without a report`;
    deps.stderr.write(`smtp-probe: ${message}\n`);
    if (request.json) deps.stdout.write(`${JSON.stringify(unavailableStatus(message), null, 2)}\n`);
    return ExitCode.unavailable;
  }
  printReport(state.report, request, deps);
  return exitCodeForReport(state.report, false);
}

/** CheckDomain for the probe's mail domain and regions; undefined when it fails (the probe's report is still printed). */
function checkDomainBeside(client: ProbeServiceClient, request: RemoteCheckRequest, posture: PostureOptions, signal: AbortSignal): Promise<DomainCheckReport | undefined> {
  return new Promise((resolve) => {
    const call = client.checkDomain(
      {
        domain: request.request.host,
        dkimSelectors: [],
        commonDkimSelectors: false,
        regions: request.request.regions,
        blocklistZones: posture.blocklistZones,
        skipBlocklists: posture.skipBlocklists,
        deadlineMs: request.request.options?.timeouts?.deadlineMs ?? 0,
      },
      callMetadata(request.credentials),
      { deadline: Date.now() + request.callTimeoutMs },
    );
    let report: DomainCheckReport | undefined;
    const cancel = (): void => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    call.on("data", (event: DomainCheckEvent) => {
      if (event.report) report = event.report;
    });
    call.on("error", () => resolve(undefined));
    call.on("end", () => {
      signal.removeEventListener("abort", cancel);
      resolve(report);
    });
  });
}

/** Runs StreamProbe to its end; resolves with the call's error, if any (never rejects). */
function streamProbe(
  client: ProbeServiceClient,
  request: RemoteCheckRequest,
  state: LiveProbe,
  signal: AbortSignal,
  onEvent: () => void,
): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    const call = client.streamProbe(request.request, callMetadata(request.credentials), { deadline: Date.now() + request.callTimeoutMs });
    const cancel = (): void => call.cancel();
    let settled = false;
    const finish = (error?: ServiceError): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", cancel);
      resolve(error);
    };
    call.on("data", (event: ProbeEvent) => {
      applyProbeEvent(state, event);
      onEvent();
    });
    call.on("error", (error: ServiceError) => finish(error));
    call.on("end", () => finish());
    if (signal.aborted) cancel();
    else signal.addEventListener("abort", cancel, { once: true });
  });
}

function printReport(report: ProbeReport, request: RemoteCheckRequest, deps: CheckDeps): void {
  if (request.json) {
    deps.stdout.write(`${JSON.stringify(probeReportJson(report), null, 2)}\n`);
    // The report names them (comparison.unknown_regions); a person reading stderr learns it too.
    for (const line of unknownRegionLines(report)) deps.stderr.write(`smtp-probe: --regions: ${line}\n`);
    return;
  }
  const color = shouldUseColor({ colorAllowed: request.colorAllowed, env: deps.env, isTTY: deps.stdout.isTTY === true });
  const style = makeStyle(color);
  const width = outputWidth(deps.stdout, deps.env);
  deps.stdout.write(formatReport(report, { style, transcript: request.transcript, width }));
  if (report.domainCheck) deps.stdout.write(`\n${formatDomainReport(report.domainCheck, style, width).join("\n")}\n`);
}

/** The coordinator's sentence for each region asked for that no agent has ever served. */
function unknownRegionLines(report: ProbeReport): string[] {
  return (report.comparison?.unknownRegions ?? []).map(
    (region) => safe(report.tasks.find((t) => t.region === region && t.status === TaskStatus.TASK_STATUS_UNKNOWN_REGION)?.detail || `unknown region ${region}`),
  );
}

/** The live block: a status line, then the matrix once the coordinator has accepted the probe. */
export function liveLines(state: LiveProbe, request: RemoteCheckRequest, style: Style, frame: number): string[] {
  const spin = style.cyan(SPINNER[frame % SPINNER.length] ?? "…");
  const host = safe(request.request.host);
  if (!state.accepted) return [`${spin} ${host}: asking the coordinator at ${request.coordinator.target}…`];
  const { done, total } = countDone(state, request.request);
  return [
    `${spin} ${style.bold(host)} via ${request.coordinator.target}: ${done} of ${total} results`,
    "",
    ...formatMatrix(liveMatrixView(state, request.request, frame), style, { minCellWidth: LIVE_CELL_WIDTH }),
  ];
}
