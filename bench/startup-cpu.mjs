// Preloaded into a process the start-up bench measures (`node --import bench/startup-cpu.mjs ...`):
// when the process exits, writes to stderr, as its last line, the CPU time it used since it
// started (user and system, µs, all its threads: getrusage) and its peak RSS (KB). Node gives no
// way to read a child's resource usage after it has exited, so the child reports its own.
import { writeSync } from "node:fs";
import process from "node:process";

process.on("exit", () => {
  const { userCPUTime, systemCPUTime, maxRSS } = process.resourceUsage();
  writeSync(2, `\nSTARTUP_BENCH ${userCPUTime} ${systemCPUTime} ${maxRSS}\n`);
});
