// Tests that need something from the machine (root, Postfix, nftables): skipped with the reason
// shown when it is missing, except under CI=true, where a missing requirement is a failure (a
// skip in CI would hide that the suite did not run).
//
//   const postfix = await need(postfixAvailable);          // at the top of the test file
//   describe.skipIf(postfix.skip)("against Postfix", () => { ... });
//
// need()/requireOrSkip() register one extra test named after the missing requirement: skipped
// locally (so the reporter shows why), failing in CI.
import { it } from "vitest";
import { isCi } from "./ci.js";

export type RequirementCheck = () => Promise<string | undefined> | string | undefined;

export interface Requirement {
  /** True when the tests that need it must not run (the placeholder test reports why). */
  skip: boolean;
  /** Why not, or undefined when everything is there. */
  reason: string | undefined;
}

/** Registers the placeholder test for a missing requirement; returns whether to skip. */
export function requireOrSkip(reason: string | undefined): boolean {
  if (reason === undefined) return false;
  const title = `requirement missing: ${reason}`;
  if (isCi()) {
    it(title, () => {
      throw new Error(`${reason} (CI=true: a skipped requirement fails the run)`);
    });
  } else {
    console.warn(`[skip] ${reason}`);
    it.skip(title, () => undefined);
  }
  return true;
}

/** The first missing requirement among the checks, run in order; undefined when none is. */
export async function firstMissing(...checks: RequirementCheck[]): Promise<string | undefined> {
  for (const check of checks) {
    const reason = await check();
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/** firstMissing() + requireOrSkip(). Call at collection time (top level of a test file). */
export async function need(...checks: RequirementCheck[]): Promise<Requirement> {
  const reason = await firstMissing(...checks);
  return { skip: requireOrSkip(reason), reason };
}
