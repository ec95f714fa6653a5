// `smtp-probe domain` in local mode: the domain check in this process, through a resolver of its
// own (--dns-server, else the system's), as region "local". Only DNS is asked. Prints the report
// (a DomainCheckReport, the shape a coordinator would return) and returns the exit code.
import { randomUUID } from "node:crypto";
import { DomainCheckReport, type DomainPosture } from "../gen/smtpprobe/v1/domain.js";
import { Severity } from "../gen/smtpprobe/v1/handshake.js";
import { AgentResolver } from "../agents/dns/agent-resolver.js";
import { checkDomain } from "../agents/posture/domain-check.js";
import { protoJson } from "../lib/proto-json.js";
import type { CheckDeps } from "./check-command.js";
import { makeStyle, shouldUseColor } from "./colors.js";
import type { DomainRequest } from "./domain-args.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { formatDomainReport } from "./format-domain.js";
import { outputWidth } from "./output-width.js";

export async function runDomainCheck(request: DomainRequest, deps: CheckDeps): Promise<ExitCodeValue> {
  const report = await localDomainCheck(request, deps.signal);
  const posture = report.postures[0]!;
  writeDomainReport(report, request, deps);
  if (deps.signal.aborted) return ExitCode.interrupted;
  return posture.findings.some((f) => f.severity === Severity.SEVERITY_ERROR) ? ExitCode.errorFindings : ExitCode.ok;
}

/** The report on stdout: --json the DomainCheckReport, else the text for people. Local and remote alike. */
export function writeDomainReport(report: DomainCheckReport, request: Pick<DomainRequest, "json" | "colorAllowed">, deps: Pick<CheckDeps, "stdout" | "env">): void {
  if (request.json) {
    deps.stdout.write(`${JSON.stringify(protoJson("smtpprobe.v1.DomainCheckReport", DomainCheckReport.encode(report).finish()), null, 2)}\n`);
  } else {
    const style = makeStyle(shouldUseColor({ colorAllowed: request.colorAllowed, env: deps.env, isTTY: deps.stdout.isTTY === true }));
    deps.stdout.write(`${formatDomainReport(report, style, outputWidth(deps.stdout, deps.env)).join("\n")}\n`);
  }
}

/** The domain check in this process, region "local", as the DomainCheckReport a coordinator returns. */
export async function localDomainCheck(
  request: Pick<DomainRequest, "domain" | "dkimSelectors" | "commonDkimSelectors" | "blocklistZones" | "dnsServers" | "timeoutMs">,
  signal: AbortSignal,
): Promise<DomainCheckReport> {
  const resolver = new AgentResolver({ servers: request.dnsServers, timeoutMs: Math.min(2_000, request.timeoutMs) });
  const startedAt = new Date();
  // At the deadline or on Ctrl-C the questions on their way are cancelled: what was read is kept,
  // what was not is an error in its part.
  const stop = (): void => resolver.cancel();
  const timer = setTimeout(stop, request.timeoutMs);
  signal.addEventListener("abort", stop, { once: true });
  let posture: DomainPosture;
  try {
    posture = await checkDomain(
      {
        domain: request.domain,
        dkimSelectors: request.dkimSelectors,
        commonDkimSelectors: request.commonDkimSelectors,
        region: "local",
        blocklistZones: request.blocklistZones,
      },
      resolver,
      { deadlineAt: Date.now() + request.timeoutMs },
    );
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  }
  return {
    checkId: randomUUID(),
    request: {
      domain: request.domain,
      dkimSelectors: request.dkimSelectors,
      commonDkimSelectors: request.commonDkimSelectors,
      regions: [],
      blocklistZones: request.blocklistZones,
      skipBlocklists: request.blocklistZones.length === 0,
      deadlineMs: request.timeoutMs,
    },
    postures: [posture],
    differences: [],
    missing: [],
    startedAt,
    finishedAt: new Date(),
  };
}
