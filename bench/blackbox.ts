// blackbox_exporter as the service bench's peer: Debian's prometheus-blackbox-exporter started
// on a free loopback port with the module file committed beside this one (blackbox-smtp.yml),
// and one probe as Prometheus asks for it: GET /probe?module=smtp_starttls&target=HOST:PORT over
// a kept-alive HTTP connection (as the gRPC client keeps its channel). A probe counts only when
// the exporter says probe_success 1.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Agent, get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/helpers/free-port.js";
import { delay } from "../test/helpers/wait.js";
import { ProbeFailure, type ProbeSample } from "./service-client.js";
import { spawnProcess, type ServiceProcess } from "./service-processes.js";

export const BLACKBOX_BIN = "/usr/bin/prometheus-blackbox-exporter";
const MODULE_FILE = fileURLToPath(new URL("./blackbox-smtp.yml", import.meta.url));
const MODULE = "smtp_starttls";
/** The probe's HTTP request: past the module's own 10 s timeout. */
const REQUEST_TIMEOUT_MS = 15_000;

export interface Blackbox {
  readonly process: ServiceProcess;
  readonly address: string;
  /** One /probe of `host:port`; throws a ProbeFailure unless probe_success is 1. */
  probe(host: string, port: number): Promise<ProbeSample>;
  stop(): Promise<void>;
}

/** undefined when the exporter is installed, else why it cannot run. */
export function blackboxUnavailable(): string | undefined {
  return existsSync(BLACKBOX_BIN) ? undefined : `${BLACKBOX_BIN} is not installed (apt-get install prometheus-blackbox-exporter)`;
}

export async function startBlackbox(caPem: string, timeoutMs = 15_000): Promise<Blackbox> {
  const dir = await mkdtemp(join(tmpdir(), "smtp-probe-blackbox-"));
  const caFile = join(dir, "ca.pem");
  await writeFile(caFile, caPem);
  const config = join(dir, "blackbox.yml");
  await writeFile(config, (await readFile(MODULE_FILE, "utf8")).replace("ca_file: CA_FILE", `ca_file: ${caFile}`));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const proc = spawnProcess("blackbox_exporter", BLACKBOX_BIN, [`--config.file=${config}`, `--web.listen-address=${address}`, "--log.level=warn"]);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const stop = async (): Promise<void> => {
    agent.destroy();
    await proc.stop(5_000);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (proc.exited()) {
      await stop();
      throw new Error(`blackbox_exporter exited at start:\n${proc.stderr()}`);
    }
    try {
      await httpGet(agent, `http://${address}/-/healthy`, 1_000);
      break;
    } catch (error) {
      if (performance.now() > deadline) {
        await stop();
        throw new Error(`blackbox_exporter did not answer on ${address} within ${timeoutMs} ms`, { cause: error });
      }
      await delay(50);
    }
  }
  return {
    process: proc,
    address,
    async probe(host, port) {
      const start = performance.now();
      let body: string;
      try {
        body = await httpGet(agent, `http://${address}/probe?module=${MODULE}&target=${encodeURIComponent(`${host}:${port}`)}`, REQUEST_TIMEOUT_MS);
      } catch (error) {
        throw new ProbeFailure("grpc_error", `blackbox_exporter: ${error instanceof Error ? error.message : String(error)}`);
      }
      const wallMs = performance.now() - start;
      if (!/^probe_success 1$/m.test(body)) throw new ProbeFailure("unexpected_outcome", `blackbox_exporter: probe_success is not 1`);
      const seconds = Number(/^probe_duration_seconds (\S+)$/m.exec(body)?.[1]);
      return { wallMs, engineMs: Number.isFinite(seconds) ? seconds * 1000 : Number.NaN };
    },
    stop,
  };
}

function httpGet(agent: Agent, url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent, timeout: timeoutMs }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
        if (body.length > 1_000_000) response.destroy(new Error("answer over 1 MB"));
      });
      response.on("end", () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${response.statusCode}`))));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    request.on("error", reject);
  });
}
