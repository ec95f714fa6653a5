import { afterEach, describe, expect, it } from "vitest";
import { firstMissing, isCi, need, skipOrFail } from "../../helpers/requirements.js";

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

  it("skipOrFail() fails under CI=true and skips otherwise", () => {
    const notes: (string | undefined)[] = [];
    const ctx = {
      skip: ((note?: string) => {
        notes.push(note);
      }) as never,
    };
    process.env.CI = "true";
    expect(() => skipOrFail(ctx, "no postfix")).toThrow(/no postfix \(CI=true/);
    expect(() => skipOrFail(ctx, undefined)).not.toThrow();
    delete process.env.CI;
    skipOrFail(ctx, "no postfix");
    expect(notes).toEqual(["no postfix"]);
  });
});
