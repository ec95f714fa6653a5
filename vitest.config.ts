import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The e2e tests run bin/smtp-probe.js, which runs dist/: built fresh before every run.
    globalSetup: ["./test/build-dist.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Integration tests start real servers; two cores, so keep the pool small.
    maxWorkers: 2,
    reporters: ["default", "./test/ci-reporter.ts"],
  },
});
