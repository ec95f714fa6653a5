// The TLS-scan bench's target, in a process of its own so that the server's CPU is not the
// scanner's: the smtp-server fixture with the reference server's TLS settings (TLS 1.0 to 1.3;
// strong, CBC, static-RSA, NULL and anonymous suites), its 100 ms early-talker pause removed as in
// bench/target-process.ts. Counts connections (and the most open at once) for its parent over IPC;
// dies with it.
import { removeEarlyTalkerPause } from "./early-talker.js";
import { startSmtpFixture } from "../test/helpers/smtp-fixture.js";

/** The same server as the reference test's (test/integration/agents/smtp/tls-scan-testssl.test.ts). */
export const BENCH_TLS = {
  minVersion: "TLSv1" as const,
  ciphers: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:AES256-SHA:AES128-GCM-SHA256:NULL-SHA:AECDH-AES128-SHA:@SECLEVEL=0",
};

export type TlsScanTargetMessage = { type: "ready"; port: number } | { type: "counts"; connections: number; peak: number };
export type TlsScanTargetRequest = { type: "counts" } | { type: "reset" } | { type: "stop" };

const MAX_LIFETIME_MS = 15 * 60_000;

async function main(): Promise<void> {
  removeEarlyTalkerPause();
  const fixture = await startSmtpFixture({ tlsOptions: BENCH_TLS, socketTimeoutMs: 60_000 });
  // Counted here rather than by the fixture, so that a run can start from zero.
  let base = 0;
  const send = (message: TlsScanTargetMessage): void => void process.send?.(message);
  const stop = async (): Promise<void> => {
    await fixture.stop().catch(() => undefined);
    process.exit(0);
  };
  setTimeout(() => void stop(), MAX_LIFETIME_MS).unref();
  process.on("disconnect", () => void stop());
  process.on("SIGTERM", () => void stop());
  process.on("message", (request: TlsScanTargetRequest) => {
    if (request.type === "stop") void stop();
    if (request.type === "reset") base = fixture.connections();
    if (request.type === "counts") send({ type: "counts", connections: fixture.connections() - base, peak: fixture.peakConnections() });
  });
  send({ type: "ready", port: fixture.port });
}

if (process.send) {
  main().catch((error: unknown) => {
    console.error("TLS-scan bench target failed:", error);
    process.exit(1);
  });
}
