import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Command } from "commander";
import { addSettingFlags, resolveSettings, type Settings } from "../../lib/config.js";
import { duration, optionalText, parseHostPort, region } from "../../lib/config-schemas.js";
import { ENGINE_SETTINGS, LOG_SETTINGS, NATS_SETTINGS, natsUrlSetting, POLICY_SETTINGS, readCaFileSetting } from "../../lib/common-settings.js";
import { createLogger } from "../../lib/logger.js";
import { metrics } from "../../lib/metrics.js";
import { METRICS_SETTINGS, startMetricsServer } from "../../lib/metrics-server.js";
import { untilShutdown, type ProcessDeps } from "../../lib/process.js";


export const AGENT_SETTINGS = {
  region: { flag: "--region", env: "SMTP_PROBE_REGION", placeholder: "NAME", description: "the region this agent serves (lower-case token)", schema: region },
  nats: natsUrlSetting(true),
  ...NATS_SETTINGS,
  agentId: {
    flag: "--agent-id",
    env: "SMTP_PROBE_AGENT_ID",
    placeholder: "ID",
    description: "this agent's id, unique in its region (default: host name and a random suffix)",
    schema: optionalText,
  },
  grace: {
    flag: "--grace",
    env: "SMTP_PROBE_GRACE",
    placeholder: "DURATION",
    default: "10s",
    description: "on SIGTERM, how long running probes may finish before they are cancelled",
    schema: duration,
  },
  ...POLICY_SETTINGS,
  ...ENGINE_SETTINGS,
  ...METRICS_SETTINGS,
  ...LOG_SETTINGS,
} satisfies Settings;

/** `smtp-probe agent`: serves one region's tasks from NATS until SIGTERM, then drains. */
export function agentCommand(deps: ProcessDeps): Command {
  const command = new Command("agent").description("serve one region's probe tasks from NATS");
  addSettingFlags(command, AGENT_SETTINGS);
  command.action(async (flags: Record<string, unknown>) => {
    const s = resolveSettings(AGENT_SETTINGS, flags, deps.env);
    const agentId = s.agentId ?? `${hostname()}-${randomBytes(3).toString("hex")}`;
    const logger = createLogger({ name: "agent", level: s.logLevel });
    const [{ connectNatsBus }, { startAgent }, { createTargetPolicy }, { watchDenyList }, { createOwnAddresses }] = await Promise.all([
      import("../../lib/nats-bus.js"),
      import("./agent.js"),
      import("../../lib/policy/target-policy.js"),
      import("../../lib/policy/deny-list-watcher.js"),
      import("../../lib/policy/own-addresses.js"),
    ]);
    // Read before anything connects: a deny list that cannot be read stops the start (exit 2).
    const denyList = s.denyList ? await watchDenyList({ file: s.denyList, logger, reloadOnSighup: true }) : undefined;
    const bus = await connectNatsBus({
      servers: s.nats!,
      name: `smtp-probe-agent@${s.region}/${agentId}`,
      credsFile: s.natsCreds,
      user: s.natsUser,
      passwordFile: s.natsPasswordFile,
      // Its own inbox namespace: the agent's permissions (deploy/nats/) allow only this one.
      inboxPrefix: `_INBOX.agent.${s.region}`,
      tls: s.natsCa || s.natsCert ? { caFile: s.natsCa, certFile: s.natsCert, keyFile: s.natsKey } : undefined,
    });
    const agent = await startAgent(
      {
        region: s.region,
        agentId,
        version: deps.version,
        concurrency: s.concurrency,
        canaries: s.canary.map((c) => parseHostPort(c)!),
        canaryIntervalMs: s.canaryInterval,
        canaryDeadlineMs: s.canaryTimeout,
        defaultEhloName: s.ehloName,
        dnsServers: s.dnsServer.length > 0 ? s.dnsServer : undefined,
        extraCa: s.caFile ? await readCaFileSetting(s.caFile) : undefined,
      },
      {
        bus,
        policy: createTargetPolicy({ allowCidrs: s.allowCidr, allowPorts: s.allowPorts, allowNames: s.allowName, denyList: denyList?.current, ownAddresses: createOwnAddresses() }),
        logger,
      },
    );
    metrics.natsConnected.set({ role: "agent" }, bus.isConnected() ? 1 : 0);
    const removeConnectionListener = bus.onConnectionChange((connected) => metrics.natsConnected.set({ role: "agent" }, connected ? 1 : 0));
    const metricsServer = s.metricsListen ? await startMetricsServer({ listen: s.metricsListen, ready: () => bus.isConnected() }) : undefined;
    logger.info({ concurrency: s.concurrency, canaries: s.canary, metricsPort: metricsServer?.port }, "agent serving");
    await untilShutdown(deps.shutdown);
    logger.info({ graceMs: s.grace }, "shutting down: no new tasks, finishing running ones");
    await agent.stop(s.grace);
    removeConnectionListener();
    await metricsServer?.close();
    denyList?.stop();
    await bus.drain();
    logger.info("stopped");
  });
  return command;
}
