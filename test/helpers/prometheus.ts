// A private Prometheus server (Debian's `prometheus` package) on a free port, started by the test
// with the configuration it gives, its data in a temporary directory: query() asks its HTTP API.
// Also whether promtool is there, for the checks of deploy/prometheus/.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";
import { waitFor } from "./wait.js";

export const PROMETHEUS_BIN = "prometheus";
export const PROMTOOL_BIN = "promtool";

export interface PrometheusServer {
  url: string;
  /** What Prometheus printed (the last 64 KiB). */
  output(): string;
  /** An instant query: the result vector's samples (labels and the value as a number). */
  query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  /** The scrape targets' health and last error, as /api/v1/targets reports them. */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

function versionCheck(bin: string, hint: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(bin, ["--version"], { stdio: "ignore" });
    child.on("error", () => resolve(`${bin} is not installed (${hint})`));
    child.on("exit", (code) => resolve(code === 0 ? undefined : `${bin} --version exited ${code}`));
  });
}

export const prometheusAvailable = (): Promise<string | undefined> => versionCheck(PROMETHEUS_BIN, "apt-get install prometheus");
export const promtoolAvailable = (): Promise<string | undefined> => versionCheck(PROMTOOL_BIN, "apt-get install prometheus");

/**
 * Starts Prometheus with this configuration (YAML text) and the files it names beside it (rule
 * files, by name); resolves once it is ready.
 */
export async function startPrometheus(config: string, files: Record<string, string> = {}, timeoutMs = 30_000): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), "smtp-probe-prometheus-"));
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, config);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const onExit = (): void => void child.kill("SIGKILL");
  process.once("exit", onExit);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => process.off("exit", onExit));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${output}`);
        return fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      },
      timeoutMs,
      () => `prometheus ready on ${url}: ${output}`,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    output: () => output,
    stop,
    async query(expr) {
      const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async targets() {
      const data = await api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>("/api/v1/targets");
      return data.activeTargets.map(({ scrapeUrl, health, lastError }) => ({ scrapeUrl, health, lastError }));
    },
  };
}
