// An agent of one region on a NATS bus, started for the HTTP API tests: returned once the
// coordinator at `coordinatorBase` lists its region in GET /v1/regions (its first heartbeat is in).
import { startAgent, type RunningAgent } from "../../../../agents/probe/agent.js";
import type { Bus } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { connectNatsBus } from "../../../../lib/nats-bus.js";
import { fetchHttp } from "../../../helpers/http-client.js";

export async function startRegionAgent(natsUrl: string, name: string, region: string, coordinatorBase: string): Promise<{ bus: Bus; agent: RunningAgent }> {
  const bus = await connectNatsBus({ servers: natsUrl, name });
  const agent = await startAgent(
    { region, agentId: `${region}-1`, version: "9.9.9", heartbeatMs: 100, defaultEhloName: "probe.test", permits: false },
    { bus, policy: () => undefined, logger: silentLogger() },
  );
  for (let i = 0; i < 100; i++) {
    const regions = (await fetchHttp(`${coordinatorBase}/v1/regions`)).json() as { regions?: { name: string }[] };
    if (regions.regions?.some((r) => r.name === region)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { bus, agent };
}
