import { describe, expect, it } from "vitest";
import { addressesNotProbed, boundNotProbed, exchangersNotProbed, MAX_NOT_PROBED_LISTED, splitAtLimit } from "../../../../agents/smtp/not-probed.js";

describe("splitAtLimit", () => {
  it.each<[string[], number, string[], string[]]>([
    [["a", "b", "c", "d", "e"], 3, ["a", "b", "c"], ["d", "e"]],
    [["a", "b"], 3, ["a", "b"], []],
    [[], 2, [], []],
  ])("%j at %d", (items, limit, kept, left) => {
    expect(splitAtLimit(items, limit)).toEqual({ kept, left });
  });
});

describe("what the limits left out", () => {
  it("names each exchanger left out, with the limit and its value, and no address", () => {
    expect(exchangersNotProbed([{ exchange: "mx4.five.test", preference: 40 }], 3)).toEqual([
      { host: "mx4.five.test", address: "", exchange: "mx4.five.test", mxPreference: 40, limit: "max_exchangers", limitValue: 3 },
    ]);
  });

  it("names each address left out with its name and exchanger", () => {
    expect(addressesNotProbed({ host: "mx1.five.test", exchange: "mx1.five.test", mxPreference: 10 }, ["192.0.2.3"], 2)).toEqual([
      { host: "mx1.five.test", address: "192.0.2.3", exchange: "mx1.five.test", mxPreference: 10, limit: "max_addresses", limitValue: 2 },
    ]);
    expect(addressesNotProbed({ host: "four.test" }, ["127.0.0.3"], 2)[0]).toMatchObject({ exchange: "", mxPreference: 0 });
  });

  it("lists at most MAX_NOT_PROBED_LISTED and counts the rest", () => {
    const entries = addressesNotProbed({ host: "many.test" }, Array.from({ length: MAX_NOT_PROBED_LISTED + 5 }, (_, i) => `10.0.0.${i}`), 2);
    const bounded = boundNotProbed(entries);
    expect(bounded.notProbed).toHaveLength(MAX_NOT_PROBED_LISTED);
    expect(bounded.notProbedOmitted).toBe(5);
    expect(boundNotProbed([])).toEqual({ notProbed: [], notProbedOmitted: 0 });
  });
});
