import { hostname } from "node:os";
import { startAgent, type RunningAgent } from "../../agents/probe/agent.js";
import type { AgentEngineConfig } from "../../agents/probe/settings.js";
import { watchDenyList } from "../../lib/policy/deny-list-watcher.js";
import { createOwnAddresses } from "../../lib/policy/own-addresses.js";
import { createTargetPolicy } from "../../lib/policy/target-policy.js";
import type { Bus } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { MemoryBus } from "../../lib/memory-bus.js";
import { metrics } from "../../lib/metrics.js";
import { connectNatsBus, type NatsBusOptions } from "../../lib/nats-bus.js";
import { redactNatsUrl } from "../../lib/nats-connect-errors.js";
import { formatHostPort } from "../../lib/host-port.js";
import { ListenError } from "../../lib/listen-error.js";
import { startMetricsServer, type HttpRoute, type MetricsServer } from "../../lib/metrics-server.js";
import { ServerCredentials } from "@grpc/grpc-js";
import { callerAuthInterceptor } from "./caller-auth.js";
import { coordinatorHttpRoutes } from "./http/coordinator-http.js";
import { CallerQuota, type QuotaLimits } from "./caller-quota.js";
import { DestinationThrottle, type ThrottleLimits } from "./destination-throttle.js";
import { startPermitService } from "./permit-service.js";
import { createProbeService, type ProbeOperations, type ProbeServiceHandle } from "./probe-service.js";
import { RegionDirectory } from "./region-directory.js";
import { KvReportStore, openReportStore } from "./report-store.js";
import { startGrpcServer, type GrpcServer } from "./server.js";
import { deferredProbeService, deferredService } from "./deferred-service.js";
import { BatchServiceDefinition } from "../../gen/smtpprobe/v1/batch.js";
import { batchGrpcService, createBatchOperations, type BatchOperations } from "./batch/batch-service.js";
import { BatchStore } from "./batch/batch-store.js";
import { BatchWorker } from "./batch/batch-worker.js";
import { MonitorServiceDefinition } from "../../gen/smtpprobe/v1/monitor.js";
import { MonitorEventLog } from "./monitor/monitor-events.js";
import { MonitorScheduler } from "./monitor/monitor-scheduler.js";
import { createMonitorOperations, monitorGrpcService, type MonitorOperations } from "./monitor/monitor-service.js";
import { MonitorStore } from "./monitor/monitor-store.js";
import { MonitorMetrics } from "./monitor/monitor-metrics.js";

export interface CoordinatorConfig {
  host: string;
  port: number;
  /** NATS; undefined: embedded mode, one agent in-process as region `local`. */
  nats?: Omit<NatsBusOptions, "name">;
  maxDeadlineMs: number;
  heartbeatMs: number;
  /** Caller quotas and the coordinator-wide bound, in probe executions; undefined: no limits. */
  quotas?: QuotaLimits;
  reportTtlMs: number;
  reportStoreBytes: number;
  allowCidrs: string[];
  allowPorts: number[];
  /** Special-use names the policy allows all the same (--allow-name); default none. */
  allowNames?: string[];
  /** Per-destination limits over all regions and callers; agents ask for a permit before each connection. */
  throttle: ThrottleLimits;
  /** The operator's deny list (--deny-list), watched for changes; SIGHUP reloads it when asked. */
  denyList?: { file: string; pollMs?: number; reloadOnSighup?: boolean };
  /** The embedded agent's engine settings (agentEngineConfig maps the command's settings to them). */
  embedded: AgentEngineConfig;
  version: string;
  /**
   * The HTTP listener (--http-listen): the page, the HTTP/JSON API, /openapi.json, and /metrics,
   * /healthz, /readyz; over TLS with auth.tls, callers known as over gRPC. undefined: none.
   * `routes`: more of the coordinator's HTTP features, mounted beside the API.
   */
  http?: { host: string; port: number; routes?: readonly HttpRoute[] };
  /** Batches (batch/): their bounds, and how many items this coordinator probes at once (0: none). */
  batch?: BatchLimits;
  /** Monitors (monitor/): the shortest interval, and how many the coordinators keep. */
  monitors?: { minIntervalMs: number; maxMonitors: number; maxMonitorsPerCaller: number };
  /** Keep every monitor's latest run as series (monitor/monitor-metrics.ts): RunningCoordinator.monitorMetrics. */
  monitorSeries?: boolean;
  /** Caller authentication; undefined: none (the caller checked that the address is loopback). */
  auth?: {
    /** Serve TLS with this certificate chain and key (PEM). */
    tls?: { certPem: string; keyPem: string; /** Mutual TLS: client certificates must chain to this CA (PEM). */ clientCaPem?: string };
    /** Bearer tokens → caller names. */
    tokens?: ReadonlyMap<string, string>;
  };
}

export interface RunningCoordinator {
  port: number;
  /** The HTTP listener's port and scheme, when it has one. */
  http?: { port: number; scheme: "http" | "https" };
  mode: "embedded" | "distributed";
  /** The ProbeService's operations, for the transports composed outside (the metrics port's /probe). */
  operations: ProbeOperations;
  /** The monitors' latest runs as series, with config.monitorSeries and JetStream (the metrics port's /metrics). */
  monitorMetrics?: MonitorMetrics;
  /** Ready to take probes: connected to NATS (always, embedded). The metrics port's /readyz. */
  ready(): boolean;
  /** Stops taking calls, finishes running ones for up to graceMs, then the embedded agent, then NATS. */
  stop(graceMs?: number): Promise<void>;
}

export const EMBEDDED_REGION = "local";

export interface BatchLimits {
  /** Targets in one CreateBatch at most. */
  maxTargets: number;
  /** Items waiting over all batches at most (the work queue's bound). */
  maxQueuedItems: number;
  /** Items this coordinator probes at once; 0: it queues and reports batches but probes none. */
  concurrency: number;
}

export const DEFAULT_MONITOR_LIMITS = { minIntervalMs: 60_000, maxMonitors: 10_000, maxMonitorsPerCaller: 100 };

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxTargets: 10_000, maxQueuedItems: 100_000, concurrency: 64 };

/**
 * A batch item a coordinator took and stopped saying it works on (it died) is handed to another
 * after this; a running item says so three times within it.
 */
export const BATCH_ACK_WAIT_MS = 10_000;

/** The HTTP listener's address cannot be bound (the gRPC one is a plain ListenError). */
export class HttpListenError extends ListenError {}

export interface StartOptions {
  /**
   * Fires on SIGTERM: a start still waiting for NATS gives up, and startCoordinator rejects with
   * the signal's reason after undoing what it had started.
   */
  shutdown?: AbortSignal;
}

/**
 * The composition of the coordinator: bus, store, discovery, gRPC service; NATS or embedded.
 *
 * The gRPC port is bound first, before anything else starts: an address that cannot be bound stops
 * the start at once (ListenError), and while NATS does not answer yet the coordinator is already
 * there to say so — health NOT_SERVING, calls UNAVAILABLE (deferred-service.ts), a log line per
 * attempt — and becomes SERVING once NATS answers. Whatever fails on the way undoes what was started,
 * so that a failed start ends the process instead of leaving it alive without a listener.
 */
export async function startCoordinator(config: CoordinatorConfig, logger: Logger, options: StartOptions = {}): Promise<RunningCoordinator> {
  const denyList = config.denyList ? await watchDenyList({ ...config.denyList, logger }) : undefined;
  const undo: (() => unknown)[] = [() => denyList?.stop()];
  // Embedded, the agent runs on this machine: its own addresses are denied (target-policy.ts).
  // Distributed, the coordinator's addresses are not the agents', and each agent denies its own.
  const policy = createTargetPolicy({
    allowCidrs: config.allowCidrs,
    allowPorts: config.allowPorts,
    allowNames: config.allowNames,
    denyList: denyList?.current,
    ownAddresses: config.nats ? undefined : createOwnAddresses(),
  });
  const tls = config.auth?.tls;
  const natsServers = config.nats ? redactNatsUrl(config.nats.servers) : undefined;
  const notReady = (): string => (natsServers ? `waiting for NATS at ${natsServers}` : "not ready yet");
  const deferred = deferredProbeService(notReady);
  const deferredBatches = deferredService(BatchServiceDefinition, notReady);
  const deferredMonitors = deferredService(MonitorServiceDefinition, notReady);
  let server: GrpcServer;
  try {
    server = await startGrpcServer({
      host: config.host,
      port: config.port,
      service: deferred.service,
      batchService: deferredBatches.service,
      monitorService: deferredMonitors.service,
      maxDeadlineMs: config.maxDeadlineMs,
      credentials: tls
        ? ServerCredentials.createSsl(
            tls.clientCaPem ? Buffer.from(tls.clientCaPem) : null,
            [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }],
            tls.clientCaPem !== undefined,
          )
        : undefined,
      interceptors: [callerAuthInterceptor({ tokens: config.auth?.tokens, mutualTls: tls?.clientCaPem !== undefined, audit: logger })],
    });
  } catch (error) {
    denyList?.stop();
    throw error;
  }
  undo.push(() => server.stop(0));
  const listen = `${config.host}:${server.port}`;
  // Bound next, for the same reasons: the page and the API answer 503 with the reason until the
  // coordinator is composed, and /readyz says "not ready".
  let operations: ProbeOperations | undefined;
  let batches: BatchOperations | undefined;
  let monitors: MonitorOperations | undefined;
  let ready = (): boolean => false;
  let http: MetricsServer | undefined;
  if (config.http) {
    const unauthenticated = !config.auth?.tokens && tls?.clientCaPem === undefined;
    const scheme = tls ? "https" : "http";
    try {
      http = await startMetricsServer({
        listen: formatHostPort(config.http.host, config.http.port),
        ready: () => ready(),
        tls,
        routes: coordinatorHttpRoutes(
          {
            operations: () => operations,
            batches: () => batches,
            monitors: () => monitors,
            notReady: () => (natsServers ? `waiting for NATS at ${natsServers}` : "not ready yet"),
            auth: { tokens: config.auth?.tokens, mutualTls: tls?.clientCaPem !== undefined },
            unauthenticated,
            scheme,
            logger,
          },
          config.http.routes,
        ),
      });
    } catch (error) {
      denyList?.stop();
      await server.stop(0);
      throw error instanceof ListenError ? new HttpListenError(error.address, error.code, { cause: error.cause }) : error;
    }
    const bound = http;
    undo.push(() => bound.close());
  }
  try {
    const bus: Bus = config.nats
      ? await connectNatsBus({
          ...config.nats,
          name: `smtp-probe-coordinator@${hostname()}`,
          onDroppedReply: (reason) => metrics.agentMessagesDropped.inc({ reason }),
          wait: {
            signal: options.shutdown,
            onRetry: ({ attempt, servers, problem, retryMs }) =>
              logger.warn(
                { listen, nats: servers, attempt, retryMs },
                `NATS at ${servers} does not answer (${problem}): health NOT_SERVING, calls UNAVAILABLE; trying again every ${retryMs / 1000} s`,
              ),
          },
        })
      : new MemoryBus();
    undo.push(() => bus.drain());
    // Before the embedded agent: its first connection already asks for a permit.
    const permits = startPermitService({ bus, throttle: new DestinationThrottle(config.throttle), logger });
    undo.push(() => permits.stop());
    let agent: RunningAgent | undefined;
    if (!config.nats) {
      const identity = { region: EMBEDDED_REGION, agentId: `${hostname()}-embedded`, version: config.version };
      agent = await startAgent({ ...config.embedded, ...identity }, { bus, policy, logger });
      undo.push(() => agent?.stop(0));
    }
    const store = await openReportStore(bus, { ttlMs: config.reportTtlMs, maxBytes: config.reportStoreBytes, logger });
    const directory = new RegionDirectory(bus, {
      discoveryTimeoutMs: 500,
      refreshMs: 5000,
      logger,
      // Beside the reports, so that a restarted coordinator still knows which regions were served.
      servedStore: store instanceof KvReportStore ? store : undefined,
      servedRewriteMs: Math.min(3_600_000, config.reportTtlMs / 2),
    });
    directory.start();
    undo.push(() => directory.stop());
    const probeService = createProbeService({
      bus,
      store,
      directory,
      policy,
      logger,
      limits: { maxDeadlineMs: config.maxDeadlineMs, heartbeatMs: config.heartbeatMs },
      quota: config.quotas ? new CallerQuota(config.quotas) : undefined,
      permits,
    });
    deferred.serve(probeService.service);
    operations = probeService.operations;
    const batchLimits = config.batch ?? DEFAULT_BATCH_LIMITS;
    // Batches are an addition: a NATS account without the permissions they need (deploy/nats/)
    // leaves the coordinator serving probes, and CreateBatch says why not.
    const batchStore = await BatchStore.open(bus, { ttlMs: config.reportTtlMs, maxQueuedItems: batchLimits.maxQueuedItems, reportBytes: config.reportStoreBytes, ackWaitMs: BATCH_ACK_WAIT_MS }).catch(
      (error: unknown) => {
        logger.warn({ err: error }, "batches are not available: their JetStream streams could not be opened (permissions?)");
        return undefined;
      },
    );
    const batchOperations = createBatchOperations({
      store: batchStore,
      policy,
      logger,
      calls: probeService.operations.calls,
      limits: { maxTargets: batchLimits.maxTargets, maxDeadlineMs: config.maxDeadlineMs },
    });
    deferredBatches.serve(batchGrpcService(batchOperations, probeService.operations.calls));
    batches = batchOperations;
    const batchWorker =
      batchStore && batchLimits.concurrency > 0
        ? new BatchWorker({ store: batchStore, operations: probeService.operations, logger, concurrency: batchLimits.concurrency, ackWaitMs: BATCH_ACK_WAIT_MS })
        : undefined;
    batchWorker?.start();
    undo.push(() => batchWorker?.stop());
    const monitorStore = await MonitorStore.open(bus).catch((error: unknown) => {
      logger.warn({ err: error }, "monitors are not available: their JetStream buckets could not be opened (permissions?)");
      return undefined;
    });
    const monitorEvents = monitorStore
      ? await MonitorEventLog.open(bus).catch((error: unknown) => {
          logger.warn({ err: error }, "monitor events are not kept: their JetStream stream could not be opened (permissions?); watches see new runs only");
          return undefined;
        })
      : undefined;
    const monitorLimits = config.monitors ?? DEFAULT_MONITOR_LIMITS;
    const monitorOperations = createMonitorOperations({ store: monitorStore, events: monitorEvents, bus, policy, logger, limits: { ...monitorLimits, maxDeadlineMs: config.maxDeadlineMs } });
    deferredMonitors.serve(monitorGrpcService(monitorOperations, probeService.operations.calls));
    monitors = monitorOperations;
    const monitorScheduler = monitorStore ? new MonitorScheduler({ store: monitorStore, events: monitorEvents, bus, operations: probeService.operations, logger, coordinatorId: `${hostname()}-${process.pid}`, policy }) : undefined;
    monitorScheduler?.start();
    undo.push(() => monitorScheduler?.stop());
    const monitorMetrics = monitorStore && config.monitorSeries ? new MonitorMetrics({ store: monitorStore, events: monitorEvents, bus, maxMonitors: monitorLimits.maxMonitors, logger }) : undefined;
    monitorMetrics?.start();
    undo.push(() => monitorMetrics?.stop());
    const running = serving({ server, http, bus, probeService, directory, agent, permits, denyList, batchWorker, monitorScheduler, monitorMetrics }, { mode: config.nats ? "distributed" : "embedded", listen, store: store.kind, auth: config.auth, logger });
    ready = running.ready;
    return running;
  } catch (error) {
    for (const step of undo.reverse()) await Promise.resolve(step()).catch(() => undefined);
    throw error;
  }
}

interface ComposedParts {
  server: GrpcServer;
  http: MetricsServer | undefined;
  bus: Bus;
  probeService: ProbeServiceHandle;
  directory: RegionDirectory;
  agent: RunningAgent | undefined;
  permits: { stop(): void };
  denyList: { stop(): void } | undefined;
  batchWorker: BatchWorker | undefined;
  monitorScheduler: MonitorScheduler | undefined;
  monitorMetrics: MonitorMetrics | undefined;
}

/** The composed coordinator at work: health follows NATS; the stop order. */
function serving(parts: ComposedParts, about: { mode: RunningCoordinator["mode"]; listen: string; store: string; auth: CoordinatorConfig["auth"]; logger: Logger }): RunningCoordinator {
  const { server, http, bus, probeService, directory, agent, permits, denyList, batchWorker, monitorScheduler, monitorMetrics } = parts;
  const { mode, listen, auth, logger } = about;
  // Health follows the NATS connection: NOT_SERVING while it is down, SERVING when it is back.
  server.setServing(bus.isConnected());
  metrics.natsConnected.set({ role: "coordinator" }, bus.isConnected() ? 1 : 0);
  const removeListener = bus.onConnectionChange((connected) => {
    server.setServing(connected);
    metrics.natsConnected.set({ role: "coordinator" }, connected ? 1 : 0);
    logger[connected ? "info" : "warn"]({ connected }, connected ? "NATS connection back: serving" : "NATS connection lost: not serving");
  });
  const callers = [auth?.tokens ? "bearer tokens" : "", auth?.tls?.clientCaPem ? "mutual TLS" : ""].filter(Boolean).join(" and ");
  if (!callers) logger.warn("no caller authentication: listening on loopback only");
  logger.info({ listen, mode, store: about.store, tls: Boolean(auth?.tls), callers: callers || "none", httpPort: http?.port }, "coordinator serving");

  let stopping: Promise<void> | undefined;
  return {
    port: server.port,
    http: http ? { port: http.port, scheme: http.scheme } : undefined,
    mode,
    operations: probeService.operations,
    monitorMetrics,
    ready: () => bus.isConnected() && !stopping,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        // NOT_SERVING first (health watchers see it before the GOAWAY), new calls refused, running
        // ones get graceMs, then UNAVAILABLE (server.ts).
        server.setServing(false);
        probeService.drain();
        removeListener();
        // The batch items it holds go back to the queue at once, for the other coordinators; the
        // monitors' next runs are claimed by them, and the runs probing here get the grace to end.
        const monitorsDrained = monitorScheduler?.drain(graceMs);
        await batchWorker?.stop();
        const graceEnds = Date.now() + graceMs;
        await server.stop(graceMs, { idle: () => probeService.idle(), end: () => probeService.endCalls() });
        // The HTTP API's calls are the ProbeService's too, but the gRPC server's stop returns as
        // soon as its own connections are gone: they get the rest of the grace, then UNAVAILABLE.
        if (http) await endHttpCalls(probeService, graceEnds - Date.now());
        await http?.close();
        await monitorsDrained; // their state and event are kept through NATS: before it is drained
        directory.stop();
        await agent?.stop(graceMs);
        permits.stop();
        denyList?.stop();
        monitorMetrics?.stop();
        await bus.drain();
      })();
      return stopping;
    },
  };
}

/** Waits up to `ms` for the calls still running, ends the rest, and lets their answers go out. */
async function endHttpCalls(probeService: ProbeServiceHandle, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), Math.max(0, ms))));
  const first = await Promise.race([probeService.idle().then(() => "idle" as const), timeout]);
  clearTimeout(timer);
  if (first === "idle") return;
  probeService.endCalls();
  await new Promise((resolve) => setTimeout(resolve, HTTP_ANSWER_FLUSH_MS));
}

/** After the grace period, HTTP calls were answered 503: their answers get this long to be written. */
const HTTP_ANSWER_FLUSH_MS = 100;
