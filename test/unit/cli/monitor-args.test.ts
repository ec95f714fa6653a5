import { describe, expect, it } from "vitest";
import { TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";
import { RegionChangeKind } from "../../../gen/smtpprobe/v1/monitor.js";
import { VerdictKind } from "../../../gen/smtpprobe/v1/probe_service.js";
import { checkMonitorId, parseAfterRun, parseIntervalSeconds, parseRunCount, planMonitorCreate, watchStartOf, WEBHOOK_SECRET_ENV } from "../../../cli/monitor-args.js";
import { formatMonitor, formatRegionChange, formatRun } from "../../../cli/monitor-command.js";
import { UsageError } from "../../../cli/usage-error.js";

const ID = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

function usage(run: () => unknown): { flag: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof UsageError) return { flag: error.flag, message: error.message };
    throw error;
  }
  throw new Error("no usage error");
}

describe("parseIntervalSeconds", () => {
  it.each([
    ["300", 300],
    ["45s", 45],
    ["5m", 300],
    ["1h", 3600],
    ["1d", 86_400],
  ])("%s is %i s", (text, seconds) => {
    expect(parseIntervalSeconds(text)).toBe(seconds);
  });

  it.each(["", "0", "5x", "-1", "1.5m", "m"])("%j: a usage error naming --interval", (text) => {
    expect(usage(() => parseIntervalSeconds(text)).flag).toBe("--interval");
  });
});

describe("planMonitorCreate", () => {
  it("host, interval and the probe's options; no webhook", () => {
    expect(planMonitorCreate("mx.example.com", { interval: "5m", port: "25,587", regions: ["eu-west,us-east"], tls: "require" }, {})).toMatchObject({
      probe: { host: "mx.example.com", ports: [25, 587], regions: ["eu-west", "us-east"], options: { tlsMode: TlsMode.TLS_MODE_REQUIRE } },
      intervalSeconds: 300,
      webhookUrl: "",
      webhookSecret: "",
    });
  });

  it("the webhook's secret from the environment, never a flag", () => {
    const request = planMonitorCreate("mx.example.com", { interval: "60", webhookUrl: "https://hooks.example/x" }, { [WEBHOOK_SECRET_ENV]: "s".repeat(20) });
    expect(request).toMatchObject({ webhookUrl: "https://hooks.example/x", webhookSecret: "s".repeat(20) });
    // A secret in the environment without a webhook is not sent.
    expect(planMonitorCreate("mx.example.com", { interval: "60" }, { [WEBHOOK_SECRET_ENV]: "s".repeat(20) }).webhookSecret).toBe("");
  });

  it.each([
    ["", { interval: "60" }, {}, "HOST"],
    ["mx.example.com", {}, {}, "--interval"],
    ["mx.example.com", { interval: "60", port: "70000" }, {}, "--port"],
    ["mx.example.com", { interval: "60", tls: "maybe" }, {}, "--tls"],
    ["mx.example.com", { interval: "60", webhookUrl: "https://hooks.example/x" }, {}, "--webhook-url"],
  ])("%j %j: a usage error naming %s", (host, flags, env, flag) => {
    expect(usage(() => planMonitorCreate(host, flags, env)).flag).toBe(flag);
  });
});

describe("checkMonitorId, parseRunCount", () => {
  it("ids and counts", () => {
    expect(checkMonitorId(ID)).toBe(ID);
    expect(parseRunCount(undefined)).toBeUndefined();
    expect(parseRunCount("3")).toBe(3);
  });

  it.each([
    [() => checkMonitorId(undefined), "MONITOR_ID"],
    [() => checkMonitorId("nope"), "MONITOR_ID"],
    [() => parseRunCount("0"), "--count"],
    [() => parseRunCount("x"), "--count"],
  ])("%s: a usage error naming %s", (run, flag) => {
    expect(usage(run).flag).toBe(flag);
  });
});

describe("parseAfterRun", () => {
  it.each<[string | undefined, number]>([
    [undefined, 0],
    ["0", 0],
    ["41", 41],
    [" 7 ", 7],
    ["999999999999999", 999_999_999_999_999],
  ])("%j is run %i", (text, run) => {
    expect(parseAfterRun(text)).toBe(run);
  });

  it.each(["", "-1", "1.5", "x", "12abc", "1e3", "1234567890123456"])("%j: a usage error naming --after", (text) => {
    const error = usage(() => parseAfterRun(text));
    expect(error.flag).toBe("--after");
    expect(error.message).toContain("is not a run number");
  });
});

describe("watchStartOf", () => {
  it.each<[{ after?: string; fromOldest?: boolean }, { afterRun: number; fromOldest: boolean }]>([
    [{}, { afterRun: 0, fromOldest: false }],
    [{ after: "12" }, { afterRun: 12, fromOldest: false }],
    [{ fromOldest: true }, { afterRun: 0, fromOldest: true }],
  ])("%j", (flags, start) => {
    expect(watchStartOf(flags)).toEqual(start);
  });

  it("--after with --from-oldest: a usage error naming --from-oldest", () => {
    expect(usage(() => watchStartOf({ after: "3", fromOldest: true })).flag).toBe("--from-oldest");
  });
});

describe("formatMonitor, formatRun", () => {
  it("a monitor on one line", () => {
    expect(
      formatMonitor({ monitorId: ID, probe: { host: "mx.example.com", ports: [25], regions: ["eu-west"] } as never, intervalSeconds: 300, createdAt: new Date("2026-12-05T02:00:00Z"), webhookUrl: "https://hooks.example/x" }),
    ).toBe(`${ID}  mx.example.com ports 25 from eu-west every 300s, since 2026-12-05T02:00:00.000Z → https://hooks.example/x`);
  });

  it("a run, its changes; a refused run", () => {
    const report = { comparison: { verdicts: [{ summary: "Port 25 is unreachable from eu-west." }] } } as never;
    expect(
      formatRun({
        monitorId: ID,
        run: 7,
        report,
        first: false,
        error: "",
        changes: [
          { port: 25, kind: VerdictKind.VERDICT_KIND_REACHABLE_EVERYWHERE, appeared: false },
          { port: 25, kind: VerdictKind.VERDICT_KIND_UNREACHABLE_EVERYWHERE, appeared: true },
        ],
        regionChanges: [{ region: "eu-west", port: 25, kind: RegionChangeKind.REGION_CHANGE_KIND_REACHABILITY, before: "reached", after: "blocked", thresholdDays: 0 }],
      }),
    ).toBe("run 7: Port 25 is unreachable from eu-west.\n  - REACHABLE_EVERYWHERE on port 25\n  + UNREACHABLE_EVERYWHERE on port 25\n  ~ reachability on port 25 from eu-west: reached → blocked\n");
    expect(formatRun({ monitorId: ID, run: 8, report: undefined, first: false, error: "quota", changes: [], regionChanges: [] })).toBe("run 8 refused: quota\n");
  });

  it.each([
    [RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE, "AA:01", "BB:02", 0, "certificate on port 25 from eu-west: AA:01 → BB:02"],
    [RegionChangeKind.REGION_CHANGE_KIND_STARTTLS, "offered", "not offered", 0, "STARTTLS on port 25 from eu-west: offered → not offered"],
    [RegionChangeKind.REGION_CHANGE_KIND_TLS_VERSION, "TLSv1.3", "TLSv1.2", 0, "TLS version on port 25 from eu-west: TLSv1.3 → TLSv1.2"],
    [RegionChangeKind.REGION_CHANGE_KIND_MTA_STS, "pass (enforce)", "fail (enforce)", 0, "MTA-STS on port 25 from eu-west: pass (enforce) → fail (enforce)"],
    [RegionChangeKind.REGION_CHANGE_KIND_DANE, "pass", "fail", 0, "DANE on port 25 from eu-west: pass → fail"],
    [RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, "31 days", "29 days", 30, "certificate expiry on port 25 from eu-west: 31 days → 29 days (under 30 days)"],
    [RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, "2 days", "0 days", 1, "certificate expiry on port 25 from eu-west: 2 days → 0 days (under 1 day)"],
    [RegionChangeKind.REGION_CHANGE_KIND_CERTIFICATE_EXPIRY, "0 days", "expired", 0, "certificate expiry on port 25 from eu-west: 0 days → expired"],
  ])("a region change of kind %i: %j → %j", (kind, before, after, thresholdDays, line) => {
    expect(formatRegionChange({ region: "eu-west", port: 25, kind, before, after, thresholdDays })).toBe(line);
  });
});
