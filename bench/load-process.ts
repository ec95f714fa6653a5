// A service process for `npm run bench:load`: the real `smtp-probe` command (coordinator or
// agent, through cli/main.ts as `node bin/smtp-probe.js` runs it) plus an IPC hook that the bench
// uses to read the process's heap after a full GC and its live handles — what the soak compares
// before and after. Forked by bench/load.ts with --expose-gc; dies with its parent.

export type LoadProcessRequest = { type: "measure" };
export interface LoadProcessMeasure {
  type: "measure";
  heapUsedBytes: number;
  rssBytes: number;
  /** process.getActiveResourcesInfo(), counted by kind (TCPWRAP, Timeout, FSReqCallback, ...). */
  resources: Record<string, number>;
}

const gc = (globalThis as { gc?: () => void }).gc;

// BENCH_LOAD_TRACE_TIMERS=1: where each live timer was made (a diagnosis of a handle count).
const timerStacks = new Map<number, string>();
if (process.env.BENCH_LOAD_TRACE_TIMERS === "1") {
  const { createHook } = await import("node:async_hooks");
  createHook({
    init(id, type) {
      if (type === "Timeout") timerStacks.set(id, new Error().stack?.split("\n").slice(2, 9).join("\n") ?? "");
    },
    destroy(id) {
      timerStacks.delete(id);
    },
  }).enable();
}

process.on("message", (message: LoadProcessRequest) => {
  if (message.type !== "measure") return;
  // Twice: the first pass can leave garbage that finalizers of the first made collectable.
  gc?.();
  gc?.();
  const resources: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] ?? 0) + 1;
  const reply: LoadProcessMeasure = { type: "measure", heapUsedBytes: process.memoryUsage().heapUsed, rssBytes: process.memoryUsage.rss(), resources };
  if (timerStacks.size > 0) process.stderr.write(`live timers:\n${[...timerStacks.values()].join("\n--\n")}\n`);
  process.send?.(reply);
});
// The IPC channel must not keep the process alive once the command has stopped.
process.channel?.unref();
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"));

await import("../cli/main.js");
