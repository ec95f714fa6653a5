// The composition root of `smtp-probe agent`: logger, deny list, NATS, policy, the agent, the
// metrics port; on SIGTERM the agent drains, then NATS. The command line resolves the settings
// (AGENT_SETTINGS, settings.ts) and imports this module only when the agent runs.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Bus } from "../../lib/bus.js";
import { METRICS_SETTINGS } from "../../lib/common-settings.js";
import { UnavailableError } from "../../lib/config.js";
import { describeListenError, ListenError } from "../../lib/listen-error.js";
import { createLogger } from "../../lib/logger.js";
import { metrics } from "../../lib/metrics.js";
import { startMetricsServer, type MetricsServer } from "../../lib/metrics-server.js";
import { connectNatsBus } from "../../lib/nats-bus.js";
import { watchDenyList } from "../../lib/policy/deny-list-watcher.js";
import { createOwnAddresses } from "../../lib/policy/own-addresses.js";
import { createTargetPolicy } from "../../lib/policy/target-policy.js";
import { untilShutdown, type ProcessDeps } from "../../lib/process.js";
import { startAgent } from "./agent.js";
import { agentEgressConfig, agentEngineConfig, type AgentSettings } from "./settings.js";

/**
 * Serves one region's tasks from NATS until the shutdown signal, then drains. NATS not answering
 * yet is normal (a region may come up first): the agent says so once per attempt and keeps
 * trying until it answers or the shutdown signal comes.
 */
export async function runAgent(s: AgentSettings, deps: ProcessDeps): Promise<void> {
  const agentId = s.agentId ?? `${hostname()}-${randomBytes(3).toString("hex")}`;
  const logger = createLogger({ name: "agent", level: s.logLevel });
  // Read before anything connects or watches: a CA file or a deny list that cannot be read stops
  // the start (exit 66, or 2 when its content is wrong).
  const engine = await agentEngineConfig(s);
  const denyList = s.denyList ? await watchDenyList({ file: s.denyList, logger, reloadOnSighup: true }) : undefined;
  let bus: Bus | undefined;
  // First, so that /healthz answers and /readyz says "not ready" while NATS is awaited.
  let metricsServer: MetricsServer | undefined;
  try {
    metricsServer = s.metricsListen ? await startMetricsServer({ listen: s.metricsListen, ready: () => bus?.isConnected() ?? false }) : undefined;
    bus = await connectNatsBus({
      servers: s.nats!,
      name: `smtp-probe-agent@${s.region}/${agentId}`,
      credsFile: s.natsCreds,
      user: s.natsUser,
      passwordFile: s.natsPasswordFile,
      // Its own inbox namespace: the agent's permissions (deploy/nats/) allow only this one.
      inboxPrefix: `_INBOX.agent.${s.region}`,
      tls: s.natsCa || s.natsCert ? { caFile: s.natsCa, certFile: s.natsCert, keyFile: s.natsKey } : undefined,
      wait: {
        signal: deps.shutdown,
        onRetry: ({ attempt, servers, problem, retryMs }) =>
          logger.warn({ region: s.region, nats: servers, attempt, retryMs }, `NATS at ${servers} does not answer (${problem}); trying again every ${retryMs / 1000} s`),
      },
    });
  } catch (error) {
    denyList?.stop();
    await metricsServer?.close();
    if (deps.shutdown.aborted) {
      logger.info("stopped before NATS answered");
      return;
    }
    throw error instanceof ListenError
      ? new UnavailableError("--metrics-listen", describeListenError(error, METRICS_SETTINGS.metricsListen), { cause: error })
      : error;
  }
  const agent = await startAgent(
    { ...engine, ...agentEgressConfig(s), region: s.region, agentId, version: deps.version },
    {
      bus,
      policy: createTargetPolicy({ allowCidrs: s.allowCidr, allowNames: s.allowName, allowPorts: s.allowPorts, denyList: denyList?.current, ownAddresses: createOwnAddresses() }),
      logger,
    },
  );
  metrics.natsConnected.set({ role: "agent" }, bus.isConnected() ? 1 : 0);
  const removeConnectionListener = bus.onConnectionChange((connected) => metrics.natsConnected.set({ role: "agent" }, connected ? 1 : 0));
  logger.info({ concurrency: s.concurrency, canaries: s.canary, metricsPort: metricsServer?.port }, "agent serving");
  await untilShutdown(deps.shutdown);
  logger.info({ graceMs: s.grace }, "shutting down: no new tasks, finishing running ones");
  await agent.stop(s.grace);
  removeConnectionListener();
  await metricsServer?.close();
  denyList?.stop();
  await bus.drain();
  logger.info("stopped");
}
