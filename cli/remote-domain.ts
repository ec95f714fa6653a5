// `smtp-probe domain --coordinator ADDR`: the domain check from the coordinator's regions, through
// CheckDomain. Prints the report as the local mode does (a block per region, then what differs,
// then the regions without an answer), or --json the DomainCheckReport.
import type { ServiceError } from "@grpc/grpc-js";
import type { DomainCheckReport, DomainCheckEvent } from "../gen/smtpprobe/v1/domain.js";
import { Severity } from "../gen/smtpprobe/v1/handshake.js";
import { reportCallFailure } from "./call-failure-output.js";
import type { CheckDeps } from "./check-command.js";
import type { CoordinatorAddress } from "./coordinator-address.js";
import type { CoordinatorCredentials } from "./coordinator-credentials.js";
import type { DomainRequest } from "./domain-args.js";
import { writeDomainReport } from "./domain-command.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { callMetadata, createProbeClient } from "./grpc-client.js";

export interface RemoteDomainRequest extends DomainRequest {
  coordinator: CoordinatorAddress;
  credentials: CoordinatorCredentials;
  regions: string[];
}

/** The call's deadline: the check's, and time for the report to come back. */
const CALL_MARGIN_MS = 2_000;

export async function runRemoteDomainCheck(request: RemoteDomainRequest, deps: CheckDeps): Promise<ExitCodeValue> {
  const client = createProbeClient(request.coordinator.target, request.credentials);
  const callTimeoutMs = request.timeoutMs + CALL_MARGIN_MS;
  let result: { report: DomainCheckReport } | { error: ServiceError } | { ended: true };
  try {
    result = await new Promise((resolve) => {
      const call = client.checkDomain(
        {
          domain: request.domain,
          dkimSelectors: request.dkimSelectors,
          commonDkimSelectors: request.commonDkimSelectors,
          regions: request.regions,
          blocklistZones: request.blocklistZones,
          skipBlocklists: request.blocklistZones.length === 0,
          deadlineMs: request.timeoutMs,
        },
        callMetadata(request.credentials),
        { deadline: Date.now() + callTimeoutMs },
      );
      const cancel = (): void => call.cancel();
      let report: DomainCheckReport | undefined;
      call.on("data", (event: DomainCheckEvent) => {
        if (event.report) report = event.report;
      });
      call.on("error", (error: ServiceError) => resolve({ error }));
      call.on("end", () => {
        deps.signal.removeEventListener("abort", cancel);
        resolve(report ? { report } : { ended: true });
      });
      if (deps.signal.aborted) call.cancel();
      else deps.signal.addEventListener("abort", cancel, { once: true });
    });
  } finally {
    client.close();
  }
  if (deps.signal.aborted) return ExitCode.interrupted;
  if ("error" in result) {
    return reportCallFailure(
      { error: result.error, coordinator: request.coordinator, tls: request.credentials.tls !== undefined, callTimeoutMs, json: request.json, answered: false },
      deps,
    );
  }
  if ("ended" in result) {
    deps.stderr.write("smtp-probe: the coordinator ended the call without a report\n");
    return ExitCode.unavailable;
  }
  const { report } = result;
  writeDomainReport(report, request, deps);
  if (report.postures.length === 0) return ExitCode.unavailable;
  return report.postures.some((p) => p.findings.some((f) => f.severity === Severity.SEVERITY_ERROR)) ? ExitCode.errorFindings : ExitCode.ok;
}
