import { afterEach, describe, expect, it } from "vitest";
import { isCi } from "../../helpers/ci.js";
import { firstMissing, need } from "../../helpers/requirements.js";

// need() with a missing requirement would register a placeholder test (failing under CI=true),
// so only the satisfied case goes through it here; the rest is tested without registering.
const satisfied = await need(() => undefined, async () => undefined);

describe("requirements", () => {
  const saved = process.env.CI;
  afterEach(() => {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  });

  it("need() with everything present does not skip", () => {
    expect(satisfied).toEqual({ skip: false, reason: undefined });
  });

  it("firstMissing() reports the first missing requirement, in order", async () => {
    expect(await firstMissing(() => undefined, async () => "no nft", () => "no root")).toBe("no nft");
    expect(await firstMissing()).toBeUndefined();
  });

  it("isCi() follows CI=true / CI=1", () => {
    process.env.CI = "true";
    expect(isCi()).toBe(true);
    process.env.CI = "1";
    expect(isCi()).toBe(true);
    process.env.CI = "false";
    expect(isCi()).toBe(false);
    delete process.env.CI;
    expect(isCi()).toBe(false);
  });
});
