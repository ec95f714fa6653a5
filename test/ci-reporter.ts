import type { Reporter, TestModule } from "vitest/node";
import { isCi } from "./helpers/ci.js";

/**
 * Closes the run with one plain line of counts, and with CI=true fails the run when any test
 * was skipped: tests that need root, network namespaces or Postfix may skip on a laptop (with
 * the reason printed), never in CI.
 */
export default class CiReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    const skipped: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        counts[state] += 1;
        if (state === "skipped") skipped.push(`${module.moduleId} > ${test.fullName}`);
      }
    }
    const ci = isCi();
    if (ci && skipped.length > 0) {
      console.error(`\nCI=true: ${skipped.length} skipped test(s) count as failures:\n  ${skipped.join("\n  ")}`);
      process.exitCode = 1;
    }
    const failed = counts.failed + (ci ? skipped.length : 0);
    console.log(`\ntests: ${counts.passed} passed, ${failed} failed, ${counts.skipped} skipped`);
  }
}
