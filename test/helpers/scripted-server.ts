// A raw TCP server that follows a script given as data, for hostile and odd SMTP servers.
// Every accepted connection runs the script from the top, independently. The step language
// (one key per step) is documented on `ScriptStep`; cases live in test/fixtures/servers/*.json.
import { readFile } from "node:fs/promises";
import net from "node:net";
import tls from "node:tls";
import { testPki, type PemPair } from "./certs.js";
import { listenLoopback, withTimeout } from "./wait.js";

export type ScriptStep =
  /** Write the text (latin1) in one write. */
  | { send: string }
  /** Wait for the client's next line (CRLF or LF); it must start with the prefix (case-insensitive).
   *  A different line, or none within timeoutMs (default 5000), is a script error: the connection closes. */
  | { expectLine: string; timeoutMs?: number }
  /** Write `text` repeated up to `bytes` bytes, honouring backpressure; stops early when the client goes. */
  | { sendRepeat: { text: string; bytes: number } }
  /** Write the text over and over, honouring backpressure, until the client goes (or stop()). */
  | { endless: string }
  /** Write the text one byte every intervalMs. */
  | { drip: string; intervalMs: number }
  /** Half-close (FIN) and end the script; the socket goes when the client closes it or on stop(). */
  | { close: true }
  /** Abort with a TCP RST (a plain destroy once TLS is up) and end the script. */
  | { destroy: true }
  /** Sleep. */
  | { wait: number }
  /** Server-side TLS handshake on this socket (certificate from the server options); plaintext the
   *  client sent before it is discarded. A failed handshake is a script error. Put it right after
   *  the step that sends the 220: a `wait` in between could swallow the ClientHello as plaintext. */
  | { startTls: true; timeoutMs?: number }
  /** Never answer: read and drop whatever comes until the client goes (or stop()). */
  | { silence: true };

export interface ScriptedCase {
  description?: string;
  steps: ScriptStep[];
}

export interface ScriptedServerOptions {
  /** Certificate for startTls steps; default: a test-PKI leaf for scripted.test, localhost, 127.0.0.1. */
  tls?: PemPair;
}

export interface ScriptedServer {
  host: "127.0.0.1";
  port: number;
  /** TCP connections accepted so far. */
  connections(): number;
  /** Every line the clients sent (all connections, arrival order, without line ends), read or not. */
  clientLines(): string[];
  /** Script errors (unexpected line, timeout, failed TLS). A client leaving is not an error. */
  errors(): string[];
  stop(): Promise<void>;
}

const fixturesDir = new URL("../fixtures/servers/", import.meta.url);
const maxLineBytes = 64 * 1024;
const maxQueuedLines = 1_000;
const chunkBytes = 64 * 1024;

/** Reads and validates test/fixtures/servers/<name>.json. */
export async function loadServerCase(name: string): Promise<ScriptedCase> {
  if (!/^[a-z0-9-]+$/.test(name)) {
    throw new Error(`scripted server case name ${JSON.stringify(name)} must be kebab-case`);
  }
  const text = await readFile(new URL(`${name}.json`, fixturesDir), "utf8");
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null || !Array.isArray((parsed as ScriptedCase).steps)) {
    throw new Error(`${name}.json: expected { "steps": [...] }`);
  }
  const steps = (parsed as { steps: unknown[] }).steps.map((step, i) => validateStep(step, `${name}.json step ${i}`));
  const description = (parsed as { description?: unknown }).description;
  return { description: typeof description === "string" ? description : undefined, steps };
}

function validateStep(step: unknown, where: string): ScriptStep {
  const fail = (why: string): never => {
    throw new Error(`${where}: ${why}: ${JSON.stringify(step)}`);
  };
  if (typeof step !== "object" || step === null) return fail("not an object");
  const s = step as Record<string, unknown>;
  const isNonNegative = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
  if ("send" in s) {
    if (typeof s.send !== "string") fail("send takes a string");
  } else if ("expectLine" in s) {
    if (typeof s.expectLine !== "string") fail("expectLine takes a string");
    if (s.timeoutMs !== undefined && !isNonNegative(s.timeoutMs)) fail("timeoutMs must be a number");
  } else if ("sendRepeat" in s) {
    const r = s.sendRepeat as { text?: unknown; bytes?: unknown } | null;
    if (typeof r !== "object" || r === null || typeof r.text !== "string" || r.text === "" || !isNonNegative(r.bytes)) {
      fail("sendRepeat takes { text: non-empty string, bytes: number }");
    }
  } else if ("endless" in s) {
    if (typeof s.endless !== "string" || s.endless === "") fail("endless takes a non-empty string");
  } else if ("drip" in s) {
    if (typeof s.drip !== "string" || !isNonNegative(s.intervalMs)) fail("drip takes a string and intervalMs");
  } else if ("close" in s) {
    if (s.close !== true) fail("close takes true");
  } else if ("destroy" in s) {
    if (s.destroy !== true) fail("destroy takes true");
  } else if ("wait" in s) {
    if (!isNonNegative(s.wait)) fail("wait takes milliseconds");
  } else if ("startTls" in s) {
    if (s.startTls !== true) fail("startTls takes true");
  } else if ("silence" in s) {
    if (s.silence !== true) fail("silence takes true");
  } else {
    fail("unknown step");
  }
  return s as ScriptStep;
}

async function defaultCertificate(): Promise<PemPair> {
  const pki = await testPki();
  return pki.leaf({ names: ["scripted.test", "localhost", "127.0.0.1"] });
}

/** Starts a scripted server from a case name (test/fixtures/servers/<name>.json) or inline steps. */
export async function startScriptedServer(
  script: string | ScriptStep[] | ScriptedCase,
  opts: ScriptedServerOptions = {},
): Promise<ScriptedServer> {
  const steps =
    typeof script === "string"
      ? (await loadServerCase(script)).steps
      : Array.isArray(script)
        ? script.map((step, i) => validateStep(step, `step ${i}`))
        : script.steps.map((step, i) => validateStep(step, `step ${i}`));
  const needsTls = steps.some((step) => "startTls" in step);
  const secureContext = needsTls ? tls.createSecureContext(toTlsOptions(opts.tls ?? (await defaultCertificate()))) : undefined;

  const runs = new Set<ConnectionRun>();
  const clientLines: string[] = [];
  const errors: string[] = [];
  let accepted = 0;

  const server = net.createServer((socket) => {
    accepted += 1;
    const run = new ConnectionRun(socket, secureContext, clientLines, errors);
    runs.add(run);
    void run.execute(steps).finally(() => {
      if (run.gone) runs.delete(run);
    });
    run.onGone(() => runs.delete(run));
  });
  const port = await listenLoopback(server);

  let stopped: Promise<void> | undefined;
  return {
    host: "127.0.0.1",
    port,
    connections: () => accepted,
    clientLines: () => [...clientLines],
    errors: () => [...errors],
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const run of runs) run.abort();
        await withTimeout(closed, 2_000, "scripted server close");
      })();
      return stopped;
    },
  };
}

function toTlsOptions(pem: PemPair): tls.SecureContextOptions {
  return { key: pem.keyPem, cert: pem.certPem };
}

class ScriptEnded extends Error {
  override readonly name = "ScriptEnded";
}

/** One accepted connection running the script. */
class ConnectionRun {
  gone = false;
  private current: net.Socket | tls.TLSSocket;
  /** Complete client lines not yet taken by expectLine. */
  private lines: string[] = [];
  /** Bytes after the last line end. */
  private partial = "";
  private wake: (() => void) | undefined;
  private goneListeners: (() => void)[] = [];
  private aborted = false;

  constructor(
    private readonly raw: net.Socket,
    private readonly secureContext: tls.SecureContext | undefined,
    private readonly clientLines: string[],
    private readonly errors: string[],
  ) {
    this.current = raw;
    raw.on("error", () => undefined); // resets by the client are expected here
    raw.once("close", () => this.markGone());
    this.listen(raw);
  }

  onGone(listener: () => void): void {
    if (this.gone) listener();
    else this.goneListeners.push(listener);
  }

  /** stop(): the TLS socket on top goes before the raw one (tearing the raw socket away under a
   *  TLS handshake crashes Node). */
  abort(): void {
    this.aborted = true;
    if (this.current !== this.raw) this.current.destroy();
    setImmediate(() => this.raw.destroy());
    this.wake?.();
  }

  async execute(steps: ScriptStep[]): Promise<void> {
    try {
      for (const step of steps) {
        this.checkAlive();
        await this.runStep(step);
      }
      // The script ran out: hang up politely.
      this.checkAlive();
      this.current.end();
    } catch (err) {
      if (!(err instanceof ScriptEnded)) {
        this.errors.push(err instanceof Error ? err.message : String(err));
        if (!this.gone) this.current.end();
      }
    }
  }

  private markGone(): void {
    if (this.gone) return;
    this.gone = true;
    this.wake?.();
    for (const listener of this.goneListeners) listener();
    this.goneListeners = [];
  }

  private checkAlive(): void {
    if (this.gone || this.aborted || this.current.destroyed) throw new ScriptEnded();
  }

  private listen(socket: net.Socket): void {
    socket.on("data", (chunk: Buffer) => {
      if (socket !== this.current) return;
      this.partial += chunk.toString("latin1");
      let end: number;
      while ((end = this.partial.indexOf("\n")) >= 0) {
        this.acceptLine(this.partial.slice(0, end).replace(/\r$/, ""));
        this.partial = this.partial.slice(end + 1);
      }
      if (this.partial.length > maxLineBytes) {
        // A client flood must not grow memory: an overlong line is cut into pieces.
        this.acceptLine(this.partial);
        this.partial = "";
      }
      this.wake?.();
    });
  }

  private acceptLine(line: string): void {
    this.clientLines.push(line);
    this.lines.push(line);
    if (this.lines.length > maxQueuedLines) this.lines.shift();
  }

  private async runStep(step: ScriptStep): Promise<void> {
    if ("send" in step) {
      await this.write(Buffer.from(step.send, "latin1"));
    } else if ("expectLine" in step) {
      const line = await this.nextLine(step.timeoutMs ?? 5_000, step.expectLine);
      if (!line.toUpperCase().startsWith(step.expectLine.toUpperCase())) {
        throw new Error(`expected a line starting with ${JSON.stringify(step.expectLine)}, got ${JSON.stringify(line)}`);
      }
    } else if ("sendRepeat" in step) {
      await this.repeat(step.sendRepeat.text, step.sendRepeat.bytes);
    } else if ("endless" in step) {
      await this.repeat(step.endless, Number.POSITIVE_INFINITY);
    } else if ("drip" in step) {
      for (const byte of Buffer.from(step.drip, "latin1")) {
        await this.write(Buffer.from([byte]));
        await this.sleep(step.intervalMs);
      }
    } else if ("close" in step) {
      this.current.end();
      throw new ScriptEnded();
    } else if ("destroy" in step) {
      if (this.current === this.raw) this.raw.resetAndDestroy();
      else this.current.destroy();
      throw new ScriptEnded();
    } else if ("wait" in step) {
      await this.sleep(step.wait);
    } else if ("startTls" in step) {
      await this.startTls(step.timeoutMs ?? 2_000);
    } else {
      // silence: read and drop until the client leaves or stop() aborts.
      await this.until(() => false, Number.POSITIVE_INFINITY);
      throw new ScriptEnded();
    }
  }

  /** Resolves when `ready()` holds; throws ScriptEnded when the client goes or on abort. */
  private until(ready: () => boolean, timeoutMs: number, what = "wait"): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (err?: Error): void => {
        this.wake = undefined;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      this.wake = () => {
        if (this.gone || this.aborted) finish(new ScriptEnded());
        else if (ready()) finish();
      };
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => finish(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
      }
      this.wake();
    });
  }

  private async nextLine(timeoutMs: number, expected: string): Promise<string> {
    await this.until(() => this.lines.length > 0, timeoutMs, `expectLine ${JSON.stringify(expected)}`);
    return this.lines.shift() ?? "";
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        if (this.gone || this.aborted) {
          clearTimeout(timer);
          this.wake = undefined;
          reject(new ScriptEnded());
        }
      };
    });
  }

  /** One write; waits for 'drain' when the socket asks for it (ends when the client goes). */
  private async write(data: Buffer): Promise<void> {
    this.checkAlive();
    const socket = this.current;
    if (socket.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off("drain", done);
        socket.off("close", done);
        resolve();
      };
      socket.on("drain", done);
      socket.on("close", done);
      // abort() destroys the socket, which emits 'close'.
    });
    this.checkAlive();
  }

  private async repeat(text: string, totalBytes: number): Promise<void> {
    const unit = Buffer.from(text, "latin1");
    const chunk = Buffer.alloc(Math.max(unit.length, Math.floor(chunkBytes / unit.length) * unit.length));
    for (let i = 0; i < chunk.length; i += unit.length) unit.copy(chunk, i);
    let left = totalBytes;
    while (left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      await this.write(piece);
      left -= piece.length;
    }
  }

  private async startTls(timeoutMs: number): Promise<void> {
    if (!this.secureContext) throw new Error("startTls without a certificate");
    // Plaintext that arrived after the command is dropped, as RFC 3207 section 4.2 asks of a server.
    this.lines = [];
    this.partial = "";
    const raw = this.raw;
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: this.secureContext });
    this.current = secure;
    secure.on("error", () => undefined);
    secure.once("close", () => this.markGone());
    this.listen(secure);
    let failure: string | undefined;
    secure.once("error", (err: Error) => {
      failure = err.message;
      this.wake?.();
    });
    let handshaken = false;
    secure.once("secure", () => {
      handshaken = true;
      this.wake?.();
    });
    try {
      await this.until(() => handshaken || failure !== undefined, timeoutMs, "TLS handshake");
    } catch (err) {
      if (err instanceof ScriptEnded) throw new Error(`TLS handshake: client left (${failure ?? "no error"})`);
      throw err;
    }
    if (failure !== undefined) throw new Error(`TLS handshake failed: ${failure}`);
  }
}
