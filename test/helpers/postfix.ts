// A private Postfix instance for integration tests: its own config, queue and data directories
// in a temp dir, one smtpd on 127.0.0.1:<free port>, STARTTLS with the given certificate. The
// system Postfix (config /etc/postfix, queue /var/spool/postfix) is never read or touched, apart
// from the programs and the meta files in /etc/postfix (postfix-files, dynamicmaps.cf).
//
// The master runs as our child (`master -c DIR -d`, in its own process group so that its
// SIGTERM handler can kill its children); stop() signals that group and waits for it.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { access, chmod, chown, mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port.js";
import { delay, withTimeout } from "./wait.js";

const execFileAsync = promisify(execFile);

export interface PostfixOptions {
  certPem: string;
  keyPem: string;
  /** Written as smtpd_tls_CAfile (for client certificates; Postfix sends only the cert file's chain). */
  caPem?: string;
  /** Default "postfix.test". */
  myhostname?: string;
  /** Extra main.cf lines (name → value), applied last. */
  mainCf?: Record<string, string>;
  /** Default 15 s. */
  startTimeoutMs?: number;
}

export interface PostfixInstance {
  host: "127.0.0.1";
  port: number;
  myhostname: string;
  /** The instance's temp dir (etc/, queue/, data/); removed by stop(). */
  dir: string;
  /** Postfix's own log (maillog_file) plus the master's stderr, for a failing test's message. */
  logs(): string;
  stop(): Promise<void>;
}

const maxLogChars = 256 * 1024;

interface PostfixPaths {
  daemonDirectory: string;
  commandDirectory: string;
  shlibDirectory: string;
  metaDirectory: string;
}

async function defaultsFromPostconf(): Promise<PostfixPaths> {
  const { stdout } = await execFileAsync(
    "postconf",
    ["-d", "-h", "daemon_directory", "command_directory", "shlib_directory", "meta_directory"],
    { timeout: 5_000 },
  );
  const [daemonDirectory, commandDirectory, shlibDirectory, metaDirectory] = stdout.trim().split("\n");
  if (!daemonDirectory || !commandDirectory || !shlibDirectory || !metaDirectory) {
    throw new Error(`postconf -d printed ${JSON.stringify(stdout)}`);
  }
  return { daemonDirectory, commandDirectory, shlibDirectory, metaDirectory };
}

async function lookupId(database: "passwd" | "group", name: string): Promise<number | undefined> {
  try {
    const { stdout } = await execFileAsync("getent", [database, name], { timeout: 5_000 });
    const id = Number.parseInt(stdout.split(":")[2] ?? "", 10);
    return Number.isInteger(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** undefined when a private Postfix can run here, else why not. */
export async function postfixAvailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return `Postfix helper needs Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return "Postfix helper needs root (master binds and drops privileges)";
  let paths: PostfixPaths;
  try {
    paths = await defaultsFromPostconf();
  } catch (err) {
    return `Postfix is not installed (postconf failed: ${err instanceof Error ? err.message : String(err)})`;
  }
  try {
    await access(join(paths.daemonDirectory, "master"));
    await access(join(paths.daemonDirectory, "smtpd"));
  } catch {
    return `Postfix master/smtpd not found in ${paths.daemonDirectory}`;
  }
  if ((await lookupId("passwd", "postfix")) === undefined) return "user 'postfix' does not exist";
  if ((await lookupId("group", "postdrop")) === undefined) return "group 'postdrop' does not exist";
  return undefined;
}

function mainCf(dir: string, paths: PostfixPaths, opts: PostfixOptions, myhostname: string): string {
  const settings: Record<string, string> = {
    compatibility_level: "3.6",
    config_directory: join(dir, "etc"),
    queue_directory: join(dir, "queue"),
    data_directory: join(dir, "data"),
    daemon_directory: paths.daemonDirectory,
    command_directory: paths.commandDirectory,
    shlib_directory: paths.shlibDirectory,
    meta_directory: paths.metaDirectory,
    mail_owner: "postfix",
    setgid_group: "postdrop",
    myhostname,
    mydomain: myhostname,
    myorigin: "$myhostname",
    mydestination: "",
    relay_domains: "",
    mynetworks: "127.0.0.0/8",
    alias_maps: "",
    alias_database: "",
    local_recipient_maps: "",
    inet_interfaces: "loopback-only",
    inet_protocols: "ipv4",
    // Log to a file of the instance (there is no syslog in a container). Not /dev/stdout: Node's
    // stdio "pipe" is a socketpair, which postlogd cannot open() through /dev/stdout (ENXIO).
    maillog_file: join(dir, "maillog"),
    maillog_file_prefixes: dir,
    // No DNS at all: no reverse lookup of the client, no anvil round trips.
    smtpd_peername_lookup: "no",
    smtpd_client_connection_count_limit: "0",
    smtpd_client_connection_rate_limit: "0",
    smtpd_banner: "$myhostname ESMTP Postfix",
    smtpd_tls_security_level: "may",
    smtpd_tls_cert_file: join(dir, "etc", "cert.pem"),
    smtpd_tls_key_file: join(dir, "etc", "key.pem"),
    ...(opts.caPem ? { smtpd_tls_CAfile: join(dir, "etc", "ca.pem") } : {}),
    smtpd_tls_loglevel: "1",
    biff: "no",
    ...opts.mainCf,
  };
  return Object.entries(settings)
    .map(([name, value]) => `${name} = ${value}`)
    .join("\n")
    .concat("\n");
}

function masterCf(port: number): string {
  // No chroot (column 5 "n"): the instance has no chroot tree. Only what smtpd needs to answer
  // EHLO, STARTTLS and MAIL: tlsmgr (TLS session cache/PRNG), anvil, trivial-rewrite (which MAIL
  // asks about the sender, started on demand), and postlogd for maillog_file.
  return [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    "tlsmgr    unix  -  -  n  1000?  1  tlsmgr",
    "anvil     unix  -  -  n  -      1  anvil",
    "rewrite   unix  -  -  n  -      -  trivial-rewrite",
    "postlog   unix-dgram n  -  n  -  1  postlogd",
    "",
  ].join("\n");
}

async function makeQueue(queue: string, postfixUid: number, postdropGid: number): Promise<void> {
  // Ownership and modes as /etc/postfix/postfix-files wants them (what `postfix check` would make).
  await mkdir(queue, { mode: 0o755 });
  for (const sub of ["active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private", "saved", "trace"]) {
    const path = join(queue, sub);
    await mkdir(path, { mode: 0o700 });
    await chown(path, postfixUid, 0);
  }
  const maildrop = join(queue, "maildrop");
  await mkdir(maildrop);
  await chown(maildrop, postfixUid, postdropGid);
  await chmod(maildrop, 0o730);
  const publicDir = join(queue, "public");
  await mkdir(publicDir);
  await chown(publicDir, postfixUid, postdropGid);
  await chmod(publicDir, 0o710);
  await mkdir(join(queue, "pid"), { mode: 0o755 });
}

/** Resolves when the port answers with a 220 line; rejects as soon as the master exits. */
async function waitForBanner(port: number, master: ChildProcess, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "no attempt";
  while (Date.now() < deadline) {
    if (master.exitCode !== null || master.signalCode !== null) {
      throw new Error(`Postfix master exited (${master.exitCode ?? master.signalCode}) during start-up:\n${logs()}`);
    }
    try {
      const line = await withTimeout(readFirstLine(port), 1_000, "Postfix banner");
      if (line.startsWith("220")) return;
      lastError = `unexpected banner ${JSON.stringify(line)}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await delay(50);
  }
  throw new Error(`Postfix did not answer on 127.0.0.1:${port} within ${timeoutMs} ms (${lastError}):\n${logs()}`);
}

function readFirstLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
      const end = text.indexOf("\r\n");
      if (end >= 0) {
        socket.end("QUIT\r\n");
        resolve(text.slice(0, end));
      }
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error("closed before a banner")));
    socket.setTimeout(1_000, () => socket.destroy(new Error("no banner")));
  });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve) => child.once("exit", () => resolve())),
    timeoutMs,
    "Postfix master exit",
  );
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // Negative pid: the process group this helper created for its own master (detached: true).
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export async function startPostfix(opts: PostfixOptions): Promise<PostfixInstance> {
  const reason = await postfixAvailable();
  if (reason !== undefined) throw new Error(`cannot start a private Postfix: ${reason}`);
  const ids = {
    postfixUid: (await lookupId("passwd", "postfix")) ?? 0,
    postdropGid: (await lookupId("group", "postdrop")) ?? 0,
  };
  const paths = await defaultsFromPostconf();
  // The free port is only free until Postfix binds it; another process may win that race.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnce(opts, paths, ids);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !err.message.includes("Address already in use")) throw err;
    }
  }
}

async function startOnce(
  opts: PostfixOptions,
  paths: PostfixPaths,
  { postfixUid, postdropGid }: { postfixUid: number; postdropGid: number },
): Promise<PostfixInstance> {
  const myhostname = opts.myhostname ?? "postfix.test";
  const dir = await mkdtemp(join(tmpdir(), "smtp-probe-postfix-"));
  // Postfix daemons resolve paths in it after dropping to the postfix user.
  await chmod(dir, 0o755);
  let master: ChildProcess | undefined;
  try {
    const etc = join(dir, "etc");
    await mkdir(etc, { mode: 0o755 });
    await writeFile(join(etc, "cert.pem"), opts.certPem, { mode: 0o644 });
    await writeFile(join(etc, "key.pem"), opts.keyPem, { mode: 0o600 });
    if (opts.caPem) await writeFile(join(etc, "ca.pem"), opts.caPem, { mode: 0o644 });
    const data = join(dir, "data");
    await mkdir(data, { mode: 0o700 });
    await chown(data, postfixUid, 0);
    await makeQueue(join(dir, "queue"), postfixUid, postdropGid);

    const port = await freePort();
    await writeFile(join(etc, "main.cf"), mainCf(dir, paths, opts, myhostname));
    await writeFile(join(etc, "master.cf"), masterCf(port));
    // Postfix waits (300 ms steps) until main.cf is at least a second old, against reading a
    // half-edited file; backdating it saves ~2 s per start.
    const past = new Date(Date.now() - 60_000);
    for (const file of ["main.cf", "master.cf"]) await utimes(join(etc, file), past, past);

    let output = "";
    const append = (chunk: Buffer): void => {
      output = (output + chunk.toString("utf8")).slice(-maxLogChars);
    };
    const started = spawn(join(paths.daemonDirectory, "master"), ["-c", etc, "-d"], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" },
    });
    master = started;
    started.stdout.on("data", append);
    started.stderr.on("data", append);
    started.on("error", (err) => append(Buffer.from(`spawn error: ${err.message}\n`)));
    const maillog = join(dir, "maillog");
    let finalLogs: string | undefined;
    const logs = (): string => {
      if (finalLogs !== undefined) return finalLogs;
      let text = output;
      try {
        text += readFileSync(maillog, "utf8").slice(-maxLogChars);
      } catch {
        // not written yet
      }
      return text;
    };

    // Safety net for a test that forgets stop() or a worker that exits early: no orphaned master.
    const onExit = (): void => {
      signalGroup(started, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    };
    process.once("exit", onExit);
    started.once("exit", () => process.off("exit", onExit));

    await waitForBanner(port, started, opts.startTimeoutMs ?? 15_000, logs);

    let stopped: Promise<void> | undefined;
    return {
      host: "127.0.0.1",
      port,
      myhostname,
      dir,
      logs,
      stop() {
        stopped ??= (async () => {
          try {
            await stopMaster(started);
          } finally {
            finalLogs = logs();
            await rm(dir, { recursive: true, force: true });
          }
        })();
        return stopped;
      },
    };
  } catch (err) {
    if (master) await stopMaster(master).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopMaster(master: ChildProcess): Promise<void> {
  // The master's SIGTERM handler terminates its process group; SIGKILL to the group if not.
  signalGroup(master, "SIGTERM");
  try {
    await waitForExit(master, 5_000);
  } catch {
    signalGroup(master, "SIGKILL");
    await waitForExit(master, 2_000);
  }
  // Children (smtpd with an open session) may outlive the master by a moment.
  signalGroup(master, "SIGKILL");
  master.stdout?.destroy();
  master.stderr?.destroy();
}
