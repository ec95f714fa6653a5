// One domain check through the agents: the regions asked (else every region with a live agent),
// a DomainTask to each region's queue group, each answer checked (validate-domain-posture.ts) and
// streamed as it lands, the regions compared (compare-domain.ts), the report kept for
// GetDomainCheck. A region that gives no posture (no agent, no answer by the deadline, an answer
// that fails the checks) is in `missing` with the reason, never an error of the call.
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { DomainTask } from "../../gen/smtpprobe/agent/v1/agent.js";
import type { DomainCheckEvent, DomainCheckReport, DomainCheckRequest, DomainPosture, DomainRegionMissing } from "../../gen/smtpprobe/v1/domain.js";
import { SUBJECTS, type Bus, type BusSubscription } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { CallError } from "./call-tracker.js";
import { compareDomainPostures } from "./compare-domain.js";
import { serviceError } from "./grpc-errors.js";
import type { RegionDirectory } from "./region-directory.js";
import { checkDomainReply } from "./validate-domain-posture.js";

/** Reports kept for GetDomainCheck (in memory, oldest out first). */
export const MAX_DOMAIN_REPORTS = 1000;
/** The agent gets this much less than the check's deadline, so that its answer arrives in time. */
const AGENT_MARGIN_MS = 100;

export interface DomainCheckDeps {
  bus: Bus;
  directory: RegionDirectory;
  logger: Logger;
}

type RegionOutcome = { region: string; posture: DomainPosture } | { region: string; missing: string };

export class DomainCheckRunner {
  private readonly reports = new Map<string, DomainCheckReport>();

  constructor(private readonly deps: DomainCheckDeps) {}

  find(checkId: string): DomainCheckReport | undefined {
    return this.reports.get(checkId);
  }

  /** `request` as validate-domain-request.ts accepted it. */
  async run(request: DomainCheckRequest, emit: (event: DomainCheckEvent) => void, signal: AbortSignal): Promise<DomainCheckReport> {
    const regions = request.regions.length > 0 ? request.regions : [...new Set((await this.deps.directory.current()).map((a) => a.region))].sort();
    if (regions.length === 0) throw new CallError(serviceError(status.FAILED_PRECONDITION, "no region named and no agent alive in any region"));
    const checkId = randomUUID();
    const startedAt = new Date();
    emit({ accepted: { checkId, regions, deadlineMs: request.deadlineMs } });
    const deadlineAt = Date.now() + request.deadlineMs;
    const outcomes = await Promise.all(
      regions.map(async (region) => {
        const outcome = await this.askRegion(checkId, region, request, deadlineAt, signal);
        if ("posture" in outcome) emit({ posture: outcome.posture });
        return outcome;
      }),
    );
    const postures = outcomes.flatMap((o) => ("posture" in o ? [o.posture] : []));
    const missing: DomainRegionMissing[] = outcomes.flatMap((o) => ("missing" in o ? [{ region: o.region, reason: o.missing }] : []));
    const report: DomainCheckReport = {
      checkId,
      request,
      postures,
      differences: compareDomainPostures(postures),
      missing,
      startedAt,
      finishedAt: new Date(),
    };
    this.keep(report);
    this.deps.logger.info({ checkId, domain: request.domain, regions, missing: missing.length }, "domain check");
    return report;
  }

  private askRegion(checkId: string, region: string, request: DomainCheckRequest, deadlineAt: number, signal: AbortSignal): Promise<RegionOutcome> {
    const task = DomainTask.encode({ checkId, region, request, deadlineMs: Math.max(1, deadlineAt - Date.now() - AGENT_MARGIN_MS) }).finish();
    return new Promise<RegionOutcome>((resolve) => {
      let done = false;
      const finish = (outcome: RegionOutcome): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        subscription?.unsubscribe();
        resolve(outcome);
      };
      const onAbort = (): void => finish({ region, missing: "cancelled: the caller went away" });
      const timer = setTimeout(() => finish({ region, missing: `no answer within the deadline (${request.deadlineMs} ms)` }), Math.max(0, deadlineAt - Date.now()));
      signal.addEventListener("abort", onAbort, { once: true });
      // The in-process bus may answer (no responders) before request() returns.
      let subscription: BusSubscription | undefined = undefined;
      subscription = this.deps.bus.request(SUBJECTS.domain(region), task, (event) => {
        if (event.kind === "no_responders") return finish({ region, missing: `no agent serves region ${region}` });
        const checked = checkDomainReply(event.data, { domain: request.domain, region });
        finish(checked.ok ? { region, posture: checked.posture } : { region, missing: checked.reason });
      });
      if (done) subscription.unsubscribe();
      if (signal.aborted) onAbort();
    });
  }

  private keep(report: DomainCheckReport): void {
    this.reports.set(report.checkId, report);
    while (this.reports.size > MAX_DOMAIN_REPORTS) {
      const oldest = this.reports.keys().next().value;
      if (oldest === undefined) break;
      this.reports.delete(oldest);
    }
  }
}
