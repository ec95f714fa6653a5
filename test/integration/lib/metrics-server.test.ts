import { afterEach, describe, expect, it } from "vitest";
import { metrics } from "../../../lib/metrics.js";
import { startMetricsServer, type MetricsServer } from "../../../lib/metrics-server.js";

describe("metrics server", () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("serves the catalog in the Prometheus text format, and health and readiness", async () => {
    let ready = false;
    server = await startMetricsServer({ listen: "127.0.0.1:0", ready: () => ready });
    metrics.requestsRejected.inc({ reason: "invalid_argument" });
    const base = `http://127.0.0.1:${server.port}`;

    const scrape = await fetch(`${base}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    expect(text).toMatch(/^smtpprobe_requests_rejected_total\{reason="invalid_argument"\} [1-9]/m);
    expect(text).toContain("# TYPE smtpprobe_phase_duration_seconds histogram");
    expect(text).toContain("process_resident_memory_bytes");

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/other`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("refuses an address already in use with the system's error", async () => {
    server = await startMetricsServer({ listen: "127.0.0.1:0", ready: () => true });
    await expect(startMetricsServer({ listen: `127.0.0.1:${server.port}`, ready: () => true })).rejects.toThrow(/EADDRINUSE/);
  });
});
