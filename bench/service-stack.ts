// The system under test, on this machine: a private nats-server (JetStream on, as the coordinator
// stores reports in its KV bucket), the coordinator and the agents as `smtp-probe` processes, and
// the gRPC client. Agents are started in parallel and waited for through the public ListRegions
// call, i.e. when the coordinator's discovery sees them. Every wait has a deadline.
import { get } from "node:http";
import { UNTHROTTLED_ARGS } from "../services/coordinator/throttle-settings.js";
import { startNatsServer, type NatsServer } from "../test/helpers/nats-server.js";
import { freePort } from "../test/helpers/free-port.js";
import { delay, withTimeout } from "../test/helpers/wait.js";
import { connectServiceClient, type ServiceClient } from "./service-client.js";
import {
  childPidsNamed,
  readCpuMs,
  readMemory,
  spawnAgent,
  spawnCoordinator,
  spawnSmtpProbe,
  type MemorySample,
  type ServiceFlags,
  type ServiceProcess,
} from "./service-processes.js";

export interface AgentSpec {
  region: string;
  agentId: string;
}

/** nats-server's own counters (its monitoring endpoint /varz). */
export interface NatsCounters {
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
}

export interface Stack {
  readonly nats: NatsServer;
  readonly natsPid: number | undefined;
  /** Messages and bytes through nats-server so far; undefined when its monitoring does not answer. */
  natsCounters(): Promise<NatsCounters | undefined>;
  readonly coordinator: ServiceProcess;
  readonly grpcAddress: string;
  readonly client: ServiceClient;
  /** Started agents by id. */
  readonly agents: Map<string, ServiceProcess>;
  /**
   * Starts agents in parallel and resolves when ListRegions lists every one, or when `timeoutMs`
   * has passed: how long it took, and which of them were discovered (all, unless it timed out).
   * Throws when one of them exits.
   */
  startAgents(specs: readonly AgentSpec[], timeoutMs: number): Promise<{ ms: number; discovered: string[] }>;
  memory(pid: number): MemorySample | undefined;
  stop(): Promise<void>;
}

export interface StackOptions {
  host: string;
  flags: Omit<ServiceFlags, "natsUrl">;
  startTimeoutMs: number;
  /** Node flags for the coordinator and the agents (a diagnosis: --cpu-prof). */
  nodeArgs?: { coordinator?: readonly string[]; agent?: readonly string[] };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  // Monitoring on a port of its own: its message counters tell how many messages a probe costs.
  const monitorPort = await freePort();
  const nats = await startNatsServer({ extraArgs: ["-m", String(monitorPort)] });
  const natsPid = childPidsNamed("nats-server")[0];
  const flags: ServiceFlags = { ...options.flags, natsUrl: nats.url };
  const grpcPort = await freePort();
  const coordinator = spawnCoordinator(grpcPort, flags, options.nodeArgs?.coordinator);
  const grpcAddress = `127.0.0.1:${grpcPort}`;
  const client = connectServiceClient(grpcAddress, options.host);
  const agents = new Map<string, ServiceProcess>();

  let stopped = false;
  const stop = async (): Promise<void> => {
    stopped = true;
    client.close();
    // Agents first (in parallel), then the coordinator, then NATS: nobody waits on a gone peer.
    await Promise.all([...agents.values()].map((agent) => agent.stop(5_000)));
    await coordinator.stop(5_000);
    await nats.stop();
  };

  try {
    await withTimeout(
      (async () => {
        for (;;) {
          if (coordinator.exited()) throw new Error(`the coordinator exited at start:\n${coordinator.stderr()}`);
          try {
            await client.waitForReady(1_000);
            return;
          } catch {
            // not listening yet
          }
        }
      })(),
      options.startTimeoutMs,
      "the coordinator's gRPC port",
    );
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nats,
    natsPid,
    async natsCounters() {
      try {
        const varz = JSON.parse(await httpGet(`http://127.0.0.1:${monitorPort}/varz`, 2_000)) as { in_msgs: number; out_msgs: number; in_bytes: number; out_bytes: number };
        return { inMsgs: varz.in_msgs, outMsgs: varz.out_msgs, inBytes: varz.in_bytes, outBytes: varz.out_bytes };
      } catch {
        return undefined;
      }
    },
    coordinator,
    grpcAddress,
    client,
    agents,
    async startAgents(specs, timeoutMs) {
      const begin = performance.now();
      const deadline = begin + timeoutMs;
      // The run may have been abandoned meanwhile (watchdog, Ctrl-C): start nothing more.
      if (stopped) throw new Error("the stack is stopped");
      for (const spec of specs) agents.set(spec.agentId, spawnAgent(spec.region, spec.agentId, flags, options.nodeArgs?.agent));
      const wanted = specs.map((s) => s.agentId);
      let seen = new Set<string>();
      while (performance.now() < deadline) {
        for (const spec of specs) {
          const agent = agents.get(spec.agentId);
          if (agent?.exited()) throw new Error(`${agent.label} exited at start:\n${agent.stderr()}`);
        }
        // Each ListRegions runs a discovery round (the coordinator waits 500 ms for answers).
        const listed = await withTimeout(client.listRegions(), 10_000, "ListRegions").catch(() => undefined);
        seen = new Set(listed?.regions.flatMap((r) => r.agents.map((a) => a.agentId)) ?? []);
        if (wanted.every((id) => seen.has(id))) break;
        await delay(200);
      }
      return { ms: performance.now() - begin, discovered: wanted.filter((id) => seen.has(id)) };
    },
    memory: (pid) => readMemory(pid),
    stop,
  };
}

/**
 * A GET with node:http rather than fetch(): fetch's HTTP parser is WebAssembly, and its compilation
 * goes on in background threads after the first call, which would count as this process's CPU
 * time in the middle of a measurement.
 */
function httpGet(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, { timeout: timeoutMs }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve(body));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    request.on("error", reject);
  });
}

/** CPU time used so far by groups of processes, ms; this process counts as "bench". */
export function cpuSnapshot(groups: Record<string, readonly number[]>): Record<string, number> {
  const snapshot: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) snapshot[name] = pids.reduce((sum, pid) => sum + (readCpuMs(pid) ?? 0), 0);
  const own = process.cpuUsage();
  snapshot.bench = (own.user + own.system) / 1000;
  return snapshot;
}

/** CPU ms per probe between two snapshots, by group, and in all. */
export function cpuPerProbe(before: Record<string, number>, after: Record<string, number>, probes: number): Record<string, number> {
  const per: Record<string, number> = {};
  let total = 0;
  for (const [name, value] of Object.entries(after)) {
    const used = value - (before[name] ?? 0);
    per[name] = probes > 0 ? used / probes : Number.NaN;
    total += used;
  }
  per.total = probes > 0 ? total / probes : Number.NaN;
  return per;
}

export interface EmbeddedCoordinator {
  process: ServiceProcess;
  client: ServiceClient;
  stop(): Promise<void>;
}

/**
 * `smtp-probe coordinator` without --nats: the same gRPC service and the same agent code, with an
 * in-process bus and the agent in the coordinator's process (the `npm start` mode).
 */
export async function startEmbeddedCoordinator(
  flags: Omit<ServiceFlags, "natsUrl">,
  host = "127.0.0.1",
  timeoutMs = 30_000,
  nodeArgs: readonly string[] = [],
): Promise<EmbeddedCoordinator> {
  const port = await freePort();
  const proc = spawnSmtpProbe("coordinator (embedded)", [
    "coordinator",
    "--listen",
    `127.0.0.1:${port}`,
    "--http-listen",
    "off",
    "--allow-cidr",
    flags.allowCidr,
    "--allow-ports",
    flags.allowPorts.join(","),
    "--log-level",
    "warn",
    ...UNTHROTTLED_ARGS,
  ], { nodeArgs });
  const client = connectServiceClient(`127.0.0.1:${port}`, host);
  const stop = async (): Promise<void> => {
    client.close();
    await proc.stop(5_000);
  };
  try {
    // The embedded agent starts before the gRPC server listens: ready means ready to probe.
    await client.waitForReady(timeoutMs);
  } catch (error) {
    await stop();
    throw new Error(`the embedded coordinator did not start: ${proc.stderr()}`, { cause: error });
  }
  return { process: proc, client, stop };
}
