import { describe, expect, it } from "vitest";
import { randomHex } from "../../../lib/random-hex.js";

describe("randomHex", () => {
  it.each([1, 8, 16, 4096])("%i bytes: twice as many lowercase hex digits", (bytes) => {
    expect(randomHex(bytes)).toMatch(new RegExp(`^[0-9a-f]{${2 * bytes}}$`));
  });

  it("never hands out the same bytes twice, across refills of the pool", () => {
    const seen = new Set(Array.from({ length: 2000 }, () => randomHex(8)));
    expect(seen.size).toBe(2000);
  });

  it.each([0, -1, 1.5, 4097])("refuses %s bytes", (bytes) => {
    expect(() => randomHex(bytes)).toThrow(RangeError);
  });
});
