// A private nats-server with JetStream on a free port, started by the test: stop(), start() again
// on the same port (to test a NATS outage), and the URL to connect to.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    await withTimeout(waitForPort(port), 10_000, `nats-server on ${port}: ${stderr}`);
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

  async function waitForPort(p: number): Promise<void> {
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const socket = net.connect(p, host);
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
}
