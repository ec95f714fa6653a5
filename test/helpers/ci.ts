/** CI=true or CI=1: a skipped test is a failure (test/ci-reporter.ts, test/helpers/requirements.ts). */
export function isCi(): boolean {
  const ci = process.env.CI?.toLowerCase();
  return ci === "true" || ci === "1";
}
