// The bench's targets, in a process of their own so that the server's CPU is not the client's:
// the smtp-server test fixture (STARTTLS, test-PKI certificate, reverse lookup off) and a silent
// TCP server that accepts and never says a word (for the held-probe memory test). Started by
// bench/targets.ts with fork(); talks to its parent over IPC and dies with it.
import { removeEarlyTalkerPause } from "./early-talker.js";
import { startSmtpFixture, type SmtpFixture } from "../test/helpers/smtp-fixture.js";
import { startSilentServer } from "../test/helpers/silent-server.js";

export interface TargetProcessConfig {
  /**
   * smtp-server waits 100 ms before its greeting to catch clients that talk too soon
   * (SMTPConnection.init, a fixed setTimeout with no option). Off: the greeting goes out at once,
   * so the handshake measures the client rather than that sleep.
   */
  earlyTalkerPause: boolean;
  silent: boolean;
  /** This many more fixtures without STARTTLS, each on a port of its own (bench:batch's targets). */
  plainFixtures?: number;
}

export type TargetProcessMessage =
  | { type: "ready"; smtpPort: number; silentPort: number | undefined; plainPorts: number[] }
  | { type: "silent-connections"; open: number; accepted: number }
  | { type: "cpu"; us: number };

export type TargetProcessRequest = { type: "silent-connections" } | { type: "cpu" } | { type: "stop" };

/** Whatever happens to the parent, this process is gone after this long. */
const MAX_LIFETIME_MS = 5 * 60_000;

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as TargetProcessConfig;
  const send = (message: TargetProcessMessage): void => {
    process.send?.(message);
  };
  if (!config.earlyTalkerPause) removeEarlyTalkerPause();

  // A longer idle timeout than the fixture's 5 s default: a paused bench run is not an idle client.
  const fixture: SmtpFixture = await startSmtpFixture({ socketTimeoutMs: 30_000 });
  const silent = config.silent ? await startSilentServer() : undefined;
  const plain = await Promise.all(Array.from({ length: config.plainFixtures ?? 0 }, () => startSmtpFixture({ starttls: "disabled", socketTimeoutMs: 30_000 })));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.allSettled([fixture.stop(), silent?.stop(), ...plain.map((f) => f.stop())]);
      process.exit(0);
    })();
    return stopping;
  };
  setTimeout(() => void stop(), MAX_LIFETIME_MS).unref();
  process.on("disconnect", () => void stop());
  process.on("SIGTERM", () => void stop());
  process.on("message", (request: TargetProcessRequest) => {
    if (request.type === "stop") void stop();
    if (request.type === "cpu") {
      const { user, system } = process.cpuUsage();
      send({ type: "cpu", us: user + system });
    }
    if (request.type === "silent-connections") {
      send({ type: "silent-connections", open: silent?.open() ?? 0, accepted: silent?.accepted() ?? 0 });
    }
  });
  send({ type: "ready", smtpPort: fixture.port, silentPort: silent?.port, plainPorts: plain.map((f) => f.port) });
}

main().catch((error: unknown) => {
  console.error("bench target process failed:", error);
  process.exit(1);
});
