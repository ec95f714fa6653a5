// A private nats-server with JetStream on a free port, started by the test: stop(), start() again
// on the same port (to test a NATS outage), and the URL to connect to. Also the deploy/nats/
// topology (a hub and leaf servers from the shipped configuration files, ports and paths
// rewritten to free ports and a temp directory).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testPki } from "./certs.js";
import { freePort } from "./free-port.js";
import { withTimeout } from "./wait.js";

export interface NatsServer {
  url: string;
  port: number;
  /** Stops the server for good and removes its store. */
  stop(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL) and keeps its store: an outage. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
}

export async function natsServerAvailable(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn("nats-server", ["--version"], { stdio: "ignore" });
    child.on("error", () => resolve("nats-server is not installed (apt-get install nats-server)"));
    child.on("exit", (code) => resolve(code === 0 ? undefined : `nats-server --version exited ${code}`));
  });
}

export async function startNatsServer(
  options: {
    jetstream?: boolean;
    extraArgs?: string[];
    /** The address to listen on (and to put in the URL); default 127.0.0.1. E.g. a lab bridge's address. */
    host?: string;
  } = {},
): Promise<NatsServer> {
  const host = options.host ?? "127.0.0.1";
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "smtp-probe-nats-"));
  let child: ChildProcess | undefined;
  const args = ["-a", host, "-p", String(port), ...(options.jetstream === false ? [] : ["-js", "-sd", storeDir]), ...(options.extraArgs ?? [])];

  const start = async (): Promise<void> => {
    const proc = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    child = proc;
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString();
    });
    const onExit = (): void => void proc.kill("SIGKILL");
    process.once("exit", onExit);
    proc.once("exit", () => process.off("exit", onExit));
    await withTimeout(waitForTcp(port, host), 10_000, `nats-server on ${port}: ${stderr}`);
  };

  await start();
  return {
    url: `nats://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    start,
    kill,
    async stop() {
      await kill();
      await rm(storeDir, { recursive: true, force: true });
    },
  };

  async function kill(): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }

}

// ---- servers from configuration files: the deploy/nats/ topology ----------------------------

/** deploy/nats/, where the hub and leaf configurations live. */
export const DEPLOY_NATS_DIR = fileURLToPath(new URL("../../deploy/nats/", import.meta.url));

/**
 * The regions deploy/nats/ has a leaf configuration for (leaf-<region>.conf). In alphabetical
 * order: nats-configs.test.ts compares them with the sorted listing of the directory.
 */
export const DEPLOY_REGIONS = ["ap-south", "eu-west", "us-east"] as const;

export interface ConfigServer {
  name: string;
  /** The client URL, `nats://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** The monitoring port (`http`). */
  httpPort: number;
  /** What the server printed (the last 64 KiB). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `nats-server -c FILE` with a configuration written to `dir`, and the environment given
 * (the configuration's $VARIABLES). Resolves once the client port accepts connections.
 */
export async function startNatsServerFromConfig(options: {
  name: string;
  config: string;
  dir: string;
  env: Record<string, string>;
  port: number;
  httpPort: number;
}): Promise<ConfigServer> {
  const file = join(options.dir, `${options.name}.conf`);
  await writeFile(file, options.config);
  const proc = spawn("nats-server", ["-c", file], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "", ...options.env } });
  let output = "";
  const capture = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  proc.stdout?.on("data", capture);
  proc.stderr?.on("data", capture);
  const onExit = (): void => void proc.kill("SIGKILL");
  process.once("exit", onExit);
  const exited = new Promise<void>((resolve) =>
    proc.once("exit", () => {
      process.off("exit", onExit);
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await withTimeout(
      Promise.race([waitForTcp(options.port), exited.then(() => Promise.reject(new Error("exited")))]),
      10_000,
      `nats-server ${options.name} on ${options.port}`,
    );
  } catch (error) {
    await stop();
    throw new Error(`nats-server ${options.name} did not start (${(error as Error).message}):\n${output}`);
  }
  return { name: options.name, url: `nats://127.0.0.1:${options.port}`, port: options.port, httpPort: options.httpPort, output: () => output, stop };
}

/** Waits until the server's monitoring endpoint reports at least `count` leaf node connections. */
export async function waitForLeafConnections(server: ConfigServer, count: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let seen = -1;
  while (Date.now() < until) {
    try {
      const response = await fetch(`http://127.0.0.1:${server.httpPort}/leafz`, { signal: AbortSignal.timeout(1000) });
      seen = ((await response.json()) as { leafnodes?: number }).leafnodes ?? 0;
      if (seen >= count) return;
    } catch {
      // not answering yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${server.name}: ${seen} leaf node connection(s) after ${timeoutMs} ms, expected ${count}:\n${server.output()}`);
}

/**
 * A deploy/nats/ configuration made runnable here: every `0.0.0.0:PORT` listen address becomes
 * 127.0.0.1 on the port `ports` maps it to (a port left unmapped is an error: nothing may listen
 * on all interfaces or on a fixed port), TLS files and the JetStream store move to `dir`, and the
 * cluster block is dropped (a single hub) or its routes point to the given local ports.
 */
export function rewriteDeployConfig(
  text: string,
  options: { ports: Record<number, number>; tlsDir: string; storeDir?: string; cluster?: "drop" | { routePorts: number[] } },
): string {
  const cluster = options.cluster ?? "drop";
  let out = cluster === "drop" ? text.replace(/^cluster \{[\s\S]*?\n\}\n/m, "") : text;
  out = out.replace(/0\.0\.0\.0:(\d+)/g, (_m, port: string) => {
    const mapped = options.ports[Number(port)];
    if (mapped === undefined) throw new Error(`rewriteDeployConfig: no port given for ${port}`);
    return `127.0.0.1:${mapped}`;
  });
  out = out.replaceAll("/etc/nats/tls/", `${options.tlsDir}/`);
  if (options.storeDir) out = out.replaceAll("/data/jetstream", options.storeDir);
  if (cluster !== "drop") {
    out = out.replace(/nats-route:\/\/hub-(\d+):6222/g, (_m, n: string) => {
      const port = cluster.routePorts[Number(n) - 1];
      if (port === undefined) throw new Error(`rewriteDeployConfig: no route port for hub-${n}`);
      return `nats-route://127.0.0.1:${port}`;
    });
  }
  return out;
}

/** The test passwords of the deploy topology's users: `pw-<user>`. */
export function deployPassword(user: string): string {
  return `pw-${user}`;
}

const envToken = (region: string): string => region.toUpperCase().replace(/-/g, "_");

/** Every variable hub.conf references, with the test passwords. */
export function hubEnv(serverName = "hub-1"): Record<string, string> {
  const env: Record<string, string> = { SMTPPROBE_NATS_SERVER_NAME: serverName, SMTPPROBE_NATS_COORDINATOR_PASSWORD: deployPassword("coordinator") };
  for (const region of DEPLOY_REGIONS) {
    env[`SMTPPROBE_NATS_LEAF_${envToken(region)}_PASSWORD`] = deployPassword(`leaf-${region}`);
    env[`SMTPPROBE_NATS_AGENT_${envToken(region)}_PASSWORD`] = deployPassword(`agent-${region}`);
  }
  return env;
}

/** Every variable leaf-<region>.conf references; the leaf's local agents share the hub's test password. */
export function leafEnv(region: string, hubLeafPort: number): Record<string, string> {
  return {
    SMTPPROBE_NATS_SERVER_NAME: `leaf-${region}`,
    SMTPPROBE_NATS_AGENT_PASSWORD: deployPassword(`agent-${region}`),
    SMTPPROBE_NATS_HUB_URL: `tls://leaf-${region}:${deployPassword(`leaf-${region}`)}@127.0.0.1:${hubLeafPort}`,
  };
}

/** Writes the CA and the hub's leafnodes certificate (for 127.0.0.1) where the configs expect them. */
export async function writeDeployTls(tlsDir: string): Promise<void> {
  const pki = await testPki();
  const hub = await pki.leaf({ names: ["127.0.0.1"] });
  await mkdir(tlsDir, { recursive: true });
  await writeFile(join(tlsDir, "ca.pem"), pki.ca.certPem);
  await writeFile(join(tlsDir, "hub.pem"), hub.certPem);
  await writeFile(join(tlsDir, "hub-key.pem"), hub.keyPem);
}

export interface DeployTopology {
  hub: ConfigServer;
  /** The hub's leafnodes port (TLS, certificate for 127.0.0.1). */
  hubLeafPort: number;
  /** The CA, hub certificate and key, as the configs name them (ca.pem, hub.pem, hub-key.pem). */
  tlsDir: string;
  /** The leaf server of each region given. */
  leaves: Map<string, ConfigServer>;
  /** Temp directory with the configs, TLS files, store and password files. */
  dir: string;
  /** Writes `user`'s test password to a file (for --nats-password-file) and returns its path. */
  passwordFile(user: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A single hub from deploy/nats/hub.conf (cluster block dropped) and a leaf server per region
 * from leaf-<region>.conf, all on free loopback ports, the leaves connected to the hub over TLS.
 */
export async function startDeployTopology(regions: readonly string[] = []): Promise<DeployTopology> {
  const dir = await mkdtemp(join(tmpdir(), "smtp-probe-deploy-nats-"));
  const tlsDir = join(dir, "tls");
  const started: ConfigServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await writeDeployTls(tlsDir);
    const [port, httpPort, leafPort] = [await freePort(), await freePort(), await freePort()];
    const hubText = await readFile(join(DEPLOY_NATS_DIR, "hub.conf"), "utf8");
    const hub = await startNatsServerFromConfig({
      name: "hub",
      dir,
      env: hubEnv(),
      port,
      httpPort,
      config: rewriteDeployConfig(hubText, { ports: { 4222: port, 8222: httpPort, 7422: leafPort }, tlsDir, storeDir: join(dir, "jetstream") }),
    });
    started.push(hub);
    const leaves = new Map<string, ConfigServer>();
    for (const region of regions) {
      const [lport, lhttp] = [await freePort(), await freePort()];
      const text = await readFile(join(DEPLOY_NATS_DIR, `leaf-${region}.conf`), "utf8");
      const leaf = await startNatsServerFromConfig({
        name: `leaf-${region}`,
        dir,
        env: leafEnv(region, leafPort),
        port: lport,
        httpPort: lhttp,
        config: rewriteDeployConfig(text, { ports: { 4222: lport, 8222: lhttp }, tlsDir }),
      });
      started.push(leaf);
      leaves.set(region, leaf);
    }
    await waitForLeafConnections(hub, regions.length);
    return {
      hub,
      hubLeafPort: leafPort,
      tlsDir,
      leaves,
      dir,
      async passwordFile(user) {
        const file = join(dir, `${user}.password`);
        await writeFile(file, `${deployPassword(user)}\n`, { mode: 0o600 });
        return file;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Until something accepts a TCP connection there; callers bound it with their own deadline. */
async function waitForTcp(port: number, host = "127.0.0.1"): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
