import { describe, expect, it } from "vitest";
import { planBatch } from "../../../cli/batch-args.js";
import { TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";

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
