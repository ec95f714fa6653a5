// Vitest's global setup: before any test file runs, dist/ is rebuilt from the sources
// (scripts/build.js, about a second), so that the tests that spawn bin/smtp-probe.js run the
// compiled JavaScript users run, and never a stale build of it.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function buildDist(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL("../scripts/build.js", import.meta.url)), "--quiet"], { stdio: "inherit", timeout: 120_000 });
}
