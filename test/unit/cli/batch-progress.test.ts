import { describe, expect, it } from "vitest";
import { BatchRate, formatBatchProgress, formatDuration } from "../../../cli/batch-progress.js";

describe("the progress line", () => {
  it("the rate over the window, and the time left at that rate", () => {
    const rate = new BatchRate();
    expect(rate.perSecond()).toBe(0);
    rate.mark(0, 0);
    rate.mark(2_000, 100);
    expect(rate.perSecond()).toBe(50);
    expect(formatBatchProgress(100, 1000, rate.perSecond())).toBe("100/1000 items  50.0/s  0:18 left");
    rate.mark(20_000, 1000);
    expect(rate.perSecond()).toBe(50);
    expect(formatBatchProgress(1000, 1000, rate.perSecond())).toBe("1000/1000 items  50.0/s");
  });

  it("no rate yet: the count alone; a high rate as a whole number", () => {
    expect(formatBatchProgress(0, 5000, 0)).toBe("0/5000 items");
    expect(formatBatchProgress(10, 5000, 250.4)).toBe("10/5000 items  250/s  0:20 left");
  });

  it.each([
    [0, "0:00"],
    [59.2, "1:00"],
    [61, "1:01"],
    [3_725, "1:02:05"],
  ])("%f s is %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});
