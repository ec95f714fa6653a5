import { parseAgentInfo } from "../../agents/probe/agent-info.js";
import { AgentInfo, RegionInfo } from "../../gen/smtpprobe/v1/probe_service.js";
import { SUBJECTS, type Bus } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { metrics } from "../../lib/metrics.js";
import { ServedRegions, type ServedRegionsStore } from "./served-regions.js";

export interface RegionDirectoryOptions {
  discoveryTimeoutMs: number;
  refreshMs: number;
  logger: Logger;
  /** Where the regions ever served are kept beyond this process (the KV store); absent: memory only. */
  servedStore?: ServedRegionsStore;
  /** How often that list is written again to keep it from expiring; default one hour. */
  servedRewriteMs?: number;
}

/**
 * The live agents, as NATS service discovery lists them, refreshed in the background so that a
 * probe never waits for discovery (a discovery round waits its whole timeout for answers); and the
 * regions agents have ever served (served-regions.ts), which tell a region whose agents went away
 * from one nobody has ever served.
 */
export class RegionDirectory {
  private agents: AgentInfo[] = [];
  private refreshedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<AgentInfo[]> | undefined;
  /** Every region an agent has served since start: its gauge goes to 0, not away, when they leave. */
  private readonly regionsSeen = new Set<string>();
  private readonly served: ServedRegions;

  constructor(
    private readonly bus: Bus,
    private readonly options: RegionDirectoryOptions,
  ) {
    this.served = new ServedRegions({ store: options.servedStore, rewriteMs: options.servedRewriteMs, logger: options.logger });
  }

  start(): void {
    void this.served.load();
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Every region an agent has served: seen by discovery or noted, since start or (stored) before. */
  servedRegions(): Promise<ReadonlySet<string>> {
    return this.served.current();
  }

  /** Regions whose agents answered tasks (one may answer before discovery has listed it). */
  noteServed(regions: Iterable<string>): void {
    this.served.note(regions);
  }

  /** Resolves when the served regions are written (for tests). */
  idle(): Promise<void> {
    return this.served.idle();
  }

  /** The agents seen by the last round (a fresh round when none has run yet). */
  async current(): Promise<AgentInfo[]> {
    if (this.refreshedAt === 0) return this.refresh();
    return this.agents;
  }

  /** Runs a discovery round now (or joins the one running). */
  refresh(): Promise<AgentInfo[]> {
    this.running ??= (async () => {
      try {
        const seenAt = new Date();
        const found = await this.bus.discover(SUBJECTS.agentService, this.options.discoveryTimeoutMs);
        this.agents = found.flatMap((service) => parseAgentInfo(service, seenAt) ?? []);
        this.refreshedAt = Date.now();
        this.updateGauge();
      } catch (error) {
        this.options.logger.warn({ err: error }, "agent discovery failed");
      } finally {
        this.running = undefined;
      }
      return this.agents;
    })();
    return this.running;
  }

  private updateGauge(): void {
    const online = new Map<string, number>();
    for (const agent of this.agents) online.set(agent.region, (online.get(agent.region) ?? 0) + 1);
    for (const region of online.keys()) this.regionsSeen.add(region);
    this.served.note(online.keys());
    for (const region of this.regionsSeen) metrics.agentsOnline.set({ region }, online.get(region) ?? 0);
  }
}

/** Agents grouped by region, regions and agents sorted by name. */
export function groupByRegion(agents: readonly AgentInfo[]): RegionInfo[] {
  const regions = new Map<string, AgentInfo[]>();
  for (const agent of agents) regions.set(agent.region, [...(regions.get(agent.region) ?? []), agent]);
  return [...regions.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => RegionInfo.fromPartial({ name, agents: list.sort((a, b) => a.agentId.localeCompare(b.agentId)) }));
}
