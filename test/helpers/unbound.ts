// A real validating resolver for DANE's tests: Debian's unbound on 127.0.0.1 (a free port), serving
// zones the test writes as its own authority (auth-zone, for-upstream only, so unbound validates
// them like any answer from upstream), each signed with ldns-signzone under a key made for the
// test and given to unbound as the trust anchor. So the AD flag comes from real DNSSEC validation:
// a signed zone answers with AD, an unsigned one without, a zone whose signature was spoiled after
// signing answers SERVFAIL. unbound asks no other server (do-not-query-address everywhere): a name
// outside the zones is NXDOMAIN or SERVFAIL, never a query to the internet.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { secureQuery } from "../../agents/dns/secure-query.js";
import { freePort } from "./free-port.js";
import { delay } from "./wait.js";

const execFileAsync = promisify(execFile);
const UNBOUND = "/usr/sbin/unbound";

export interface UnboundZone {
  /** "signed.example" (no final dot). */
  name: string;
  /** Records after $ORIGIN and $TTL: "@ IN MX 10 mx", "mx IN A 127.0.0.1". SOA and NS are added. */
  records: string[];
  /** "signed": signed, its key the trust anchor; "unsigned": no signature, no anchor (insecure); "bogus": signed and anchored, then a signature spoiled. */
  dnssec: "signed" | "unsigned" | "bogus";
}

export interface Unbound {
  /** "127.0.0.1:PORT" for --dns-server. */
  server: string;
  output(): string;
  stop(): Promise<void>;
}

/** undefined when unbound and ldns-signzone are installed, else why not. */
export async function unboundAvailable(): Promise<string | undefined> {
  try {
    await execFileAsync(UNBOUND, ["-V"], { timeout: 10_000 });
    await execFileAsync("ldns-keygen", ["-v"], { timeout: 10_000 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") throw error;
    });
    return undefined;
  } catch (error) {
    return `unbound and ldnsutils are needed (apt-get install unbound ldnsutils): ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
  }
}

export async function startUnbound(zones: readonly UnboundZone[], options: { address?: string } = {}): Promise<Unbound> {
  const address = options.address ?? "127.0.0.1";
  const dir = await mkdtemp(join(tmpdir(), "smtp-probe-unbound-"));
  const anchors: string[] = [];
  const authZones: string[] = [];
  for (const zone of zones) {
    const file = join(dir, `${zone.name}.zone`);
    const text = [
      `$ORIGIN ${zone.name}.`,
      "$TTL 300",
      `@ IN SOA ns.${zone.name}. admin.${zone.name}. 1 3600 600 86400 300`,
      `@ IN NS ns.${zone.name}.`,
      `ns IN A ${address}`,
      ...zone.records,
      "",
    ].join("\n");
    await writeFile(file, text);
    let served = file;
    if (zone.dnssec !== "unsigned") {
      const { stdout } = await execFileAsync("ldns-keygen", ["-a", "ECDSAP256SHA256", "-k", `${zone.name}.`], { cwd: dir, timeout: 10_000 });
      const key = join(dir, stdout.trim());
      await execFileAsync("ldns-signzone", ["-f", `${file}.signed`, file, key], { cwd: dir, timeout: 10_000 });
      served = `${file}.signed`;
      anchors.push(`${key}.key`);
      if (zone.dnssec === "bogus") await spoilSignatures(served);
    }
    authZones.push(["auth-zone:", `  name: "${zone.name}."`, `  zonefile: "${served}"`, "  for-downstream: no", "  for-upstream: yes", "  fallback-enabled: no"].join("\n"));
  }
  const port = await freePort();
  const config = [
    "server:",
    `  interface: ${address}`,
    // Clients in the lab's namespaces too (the default allows only localhost).
    "  access-control: 0.0.0.0/0 allow",
    `  port: ${port}`,
    "  do-daemonize: no",
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    '  pidfile: ""',
    "  use-syslog: no",
    '  logfile: ""',
    "  verbosity: 1",
    "  val-log-level: 2",
    "  do-ip6: no",
    '  module-config: "validator iterator"',
    "  qname-minimisation: no",
    // Never the internet: no server but the zones here is asked.
    "  do-not-query-address: 0.0.0.0/0",
    "  do-not-query-address: ::/0",
    ...anchors.map((a) => `  trust-anchor-file: "${a}"`),
    ...authZones,
    "",
  ].join("\n");
  await writeFile(join(dir, "unbound.conf"), config);
  const proc: ChildProcess = spawn(UNBOUND, ["-d", "-c", join(dir, "unbound.conf")], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const server = `${address}:${port}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      await Promise.race([exited, delay(3000).then(() => proc.kill("SIGKILL"))]);
    }
    await rm(dir, { recursive: true, force: true });
  };
  // Ready when it answers for the first zone.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await secureQuery(`${zones[0]?.name ?? "."}`, "SOA", { servers: [server], timeoutMs: 300 });
      break;
    } catch (error) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        await stop();
        throw new Error(`unbound did not start: ${error instanceof Error ? error.message : String(error)}\n${output}`);
      }
      await delay(100);
    }
  }
  return { server, output: () => output, stop };
}

/** Flips a character in the signature of every TLSA RRSIG: the zone stays anchored, its TLSA answers bogus. */
async function spoilSignatures(file: string): Promise<void> {
  const text = await readFile(file, "utf8");
  const spoiled = text
    .split("\n")
    .map((line) => {
      if (!/\tRRSIG\tTLSA /.test(line)) return line;
      const at = line.length - 10;
      const c = line[at] === "A" ? "B" : "A";
      return line.slice(0, at) + c + line.slice(at + 1);
    })
    .join("\n");
  await writeFile(file, spoiled);
}
