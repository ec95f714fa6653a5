// What the long-running commands (`coordinator`, `agent`) share as processes: what they are given
// by the command line's composition root, and the wait for the signal that ends them.

export interface ProcessDeps {
  version: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Fires on SIGTERM or SIGINT: drain and exit. */
  shutdown: AbortSignal;
}

/** Resolves when the shutdown signal fires (at once if it has already). */
export function untilShutdown(shutdown: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => (shutdown.aborted ? resolve() : shutdown.addEventListener("abort", () => resolve(), { once: true })));
}
