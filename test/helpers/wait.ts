// Small waiting primitives shared by the helpers: every wait in a test helper has a deadline.
import type { Server } from "node:net";
import { HelperTimeoutError, withTimeout } from "../../scripts/with-timeout.js";

// The deadline itself lives with the scripts (npm run stack, npm run demo), which use it too.
export { HelperTimeoutError, withTimeout } from "../../scripts/with-timeout.js";

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Listens on 127.0.0.1, port 0 unless given; resolves with the bound port. */
export function listenLoopback(server: Server, timeoutMs = 2_000, port = 0): Promise<number> {
  const listening = new Promise<number>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError);
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error("listener has no TCP address"));
        return;
      }
      resolve(address.port);
    });
  });
  return withTimeout(listening, timeoutMs, "listen on 127.0.0.1");
}

/** Closes a listener; the caller destroys open sockets first, or this waits for them. */
export function closeServer(server: Server, timeoutMs = 2_000): Promise<void> {
  if (!server.listening) {
    return Promise.resolve();
  }
  const closed = new Promise<void>((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
  });
  return withTimeout(closed, timeoutMs, "close listener");
}

/**
 * Polls `predicate` every `intervalMs` (default 50) until it holds; rejects with HelperTimeoutError
 * after timeoutMs, or with what the predicate throws. An async predicate is awaited before the
 * deadline is looked at, so a slow check cannot outlast the deadline by more than one check.
 * `what` may be a function, called at the timeout, so the error can tell the state it ended in.
 */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string), intervalMs = 50): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() >= deadline) throw new HelperTimeoutError(typeof what === "string" ? what : what(), timeoutMs);
    await delay(intervalMs);
  }
}
