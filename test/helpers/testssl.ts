// testssl.sh (Debian's package, `testssl`) as the reference for the TLS scan: run against a
// server the test started on loopback — never anything else — with the checks the scan makes
// (-p protocols, -E cipher suites per protocol), its JSON read back into versions and suites.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { TlsVersion } from "../../gen/smtpprobe/v1/handshake.js";

const execFileAsync = promisify(execFile);

/** undefined when testssl.sh is installed, else why not. */
export async function testsslAvailable(): Promise<string | undefined> {
  try {
    await execFileAsync("testssl", ["--version"], { timeout: 30_000 });
    return undefined;
  } catch (error) {
    return `testssl.sh is not installed (apt-get install testssl.sh): ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
  }
}

export interface TestsslResult {
  /** Each version testssl tested (SSLv2 left out: the scan does not test it), offered or not. */
  offered: Map<TlsVersion, boolean>;
  /** The suites testssl found per version, as code points, sorted. */
  ciphers: Map<TlsVersion, number[]>;
  /** testssl's own figure ("scanTime"), in seconds. */
  scanTimeS: number;
  /** The wall time of the whole run, start-up included. */
  wallMs: number;
}

const PROTOCOL_IDS: Readonly<Record<string, TlsVersion>> = {
  SSLv3: TlsVersion.TLS_VERSION_SSL_3_0,
  TLS1: TlsVersion.TLS_VERSION_TLS_1_0,
  TLS1_1: TlsVersion.TLS_VERSION_TLS_1_1,
  TLS1_2: TlsVersion.TLS_VERSION_TLS_1_2,
  TLS1_3: TlsVersion.TLS_VERSION_TLS_1_3,
};

const CIPHER_IDS: Readonly<Record<string, TlsVersion>> = {
  ssl3: TlsVersion.TLS_VERSION_SSL_3_0,
  tls1: TlsVersion.TLS_VERSION_TLS_1_0,
  tls1_1: TlsVersion.TLS_VERSION_TLS_1_1,
  tls1_2: TlsVersion.TLS_VERSION_TLS_1_2,
  tls1_3: TlsVersion.TLS_VERSION_TLS_1_3,
};

/** Runs `testssl -p -E` against 127.0.0.1:port (STARTTLS SMTP unless implicit). */
export async function runTestssl(port: number, opts: { starttls: boolean; timeoutMs: number }): Promise<TestsslResult> {
  const host = "127.0.0.1"; // loopback only, whatever the caller: the reference never leaves this machine
  const dir = await mkdtemp(join(tmpdir(), "smtp-probe-testssl-"));
  const json = join(dir, "out.json");
  const args = ["--quiet", "--color", "0", "--warnings", "off", "-p", "-E", "--jsonfile", json, ...(opts.starttls ? ["--starttls", "smtp"] : []), `${host}:${port}`];
  const began = performance.now();
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn("testssl", args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
      let text = "";
      const keep = (chunk: Buffer): void => {
        text = (text + chunk.toString("utf8")).slice(-64 * 1024);
      };
      child.stdout.on("data", keep);
      child.stderr.on("data", keep);
      const timer = setTimeout(() => {
        // Its own process group: testssl starts many openssl children.
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // gone
        }
        reject(new Error(`testssl did not finish within ${opts.timeoutMs} ms:\n${text}`));
      }, opts.timeoutMs);
      child.on("error", reject);
      child.on("exit", () => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    const wallMs = performance.now() - began;
    let entries: { id: string; finding: string }[];
    try {
      entries = JSON.parse(await readFile(json, "utf8")) as { id: string; finding: string }[];
    } catch (error) {
      throw new Error(`testssl wrote no JSON (${String(error)}):\n${output}`);
    }
    return { ...readTestsslJson(entries), wallMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** testssl's JSON findings ("TLS1_2": "offered", "cipher-tls1_2_xc02f": ...) as versions and suites. */
export function readTestsslJson(entries: readonly { id: string; finding: string }[]): Omit<TestsslResult, "wallMs"> {
  const offered = new Map<TlsVersion, boolean>();
  const ciphers = new Map<TlsVersion, number[]>();
  let scanTimeS = 0;
  for (const { id, finding } of entries) {
    const version = PROTOCOL_IDS[id];
    if (version !== undefined) offered.set(version, /^offered/.test(finding));
    const cipher = /^cipher-(ssl3|tls1(?:_[123])?)_x([0-9a-f]+)$/i.exec(id);
    if (cipher) {
      const v = CIPHER_IDS[cipher[1]!.toLowerCase()]!;
      ciphers.set(v, [...(ciphers.get(v) ?? []), Number.parseInt(cipher[2]!, 16)].sort((a, b) => a - b));
    }
    if (id === "scanTime") scanTimeS = Number(finding) || 0;
  }
  return { offered, ciphers, scanTimeS };
}
