import { describe, expect, it } from "vitest";
import { parseBatchFile } from "../../../cli/batch-file.js";
import { BatchRate, formatBatchProgress, formatDuration } from "../../../cli/batch-progress.js";
import { planBatch } from "../../../cli/batch-args.js";
import { TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";

describe("parseBatchFile", () => {
  it("reads hosts and host,port lines; skips blank lines and comments", () => {
    const text = "# servers\nmx1.example.com\n\n  mx2.example.com , 25, 587 \r\n[2001:db8::1],25\n";
    expect(parseBatchFile(text, "t.txt")).toEqual([
      { host: "mx1.example.com", ports: [] },
      { host: "mx2.example.com", ports: [25, 587] },
      { host: "[2001:db8::1]", ports: [25] },
    ]);
  });

  it.each([
    ["a.example\nb.example,0", "FILE: t.txt:2: \"0\" is not a port (1-65535)"],
    ["a.example,x", "FILE: t.txt:1: \"x\" is not a port (1-65535)"],
    ["a example", "FILE: t.txt:1: \"a example\" is not \"host\" or \"host,port[,port...]\""],
    [",25", "FILE: t.txt:1: \",25\" is not"],
    ["a.example,1,2,3,4,5,6,7,8,9", "FILE: t.txt:1: at most 8 ports on a line, got 9"],
    ["# nothing\n\n", "FILE: t.txt: no targets"],
  ])("%j is refused naming the line", (text, message) => {
    expect(() => parseBatchFile(text, "t.txt")).toThrow(message);
  });
});

describe("planBatch", () => {
  it("a new batch: ports, regions and the TLS mode as shared options", () => {
    const plan = planBatch("t.txt", { port: "25,587", regions: ["eu-west,us-east", "ap-south"], tls: "require" });
    expect(plan).toMatchObject({ kind: "create", file: "t.txt", options: { ports: [25, 587], regions: ["eu-west", "us-east", "ap-south"], options: { tlsMode: TlsMode.TLS_MODE_REQUIRE } } });
  });

  it("a resumed watch, after a sequence", () => {
    expect(planBatch(undefined, { resume: "1b4e28ba-2fa1-41d2-883f-0016d3cca427", after: "42" })).toEqual({ kind: "resume", batchId: "1b4e28ba-2fa1-41d2-883f-0016d3cca427", after: 42 });
  });

  it.each([
    [undefined, {}, "FILE: missing"],
    ["t.txt", { resume: "1b4e28ba-2fa1-41d2-883f-0016d3cca427" }, "--resume: watches a batch created before: give FILE or --resume, not both"],
    [undefined, { resume: "nope" }, "--resume: \"nope\" is not a batch id"],
    [undefined, { resume: "1b4e28ba-2fa1-41d2-883f-0016d3cca427", after: "x" }, "--after: \"x\" is not a sequence"],
    [undefined, { resume: "1b4e28ba-2fa1-41d2-883f-0016d3cca427", port: "25" }, "--port: is an option of a new batch"],
    ["t.txt", { after: "3" }, "--after: needs --resume BATCH_ID"],
    ["t.txt", { port: "25,99999" }, "--port: \"99999\" is not a port"],
    ["t.txt", { tls: "starttls" }, "--tls: \"starttls\" is not a TLS mode"],
  ])("%j %j is a usage error: %s", (file, flags, message) => {
    expect(() => planBatch(file, flags)).toThrow(message);
  });
});

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
