import { afterEach, describe, expect, it } from "vitest";
import { Phase } from "../../../gen/smtpprobe/v1/handshake.js";
import { ProgressLine, SILENT_BANNER_HINT_MS } from "../../../cli/progress.js";

describe("ProgressLine", () => {
  let line: ProgressLine | undefined;
  afterEach(() => line?.stop());

  const capture = (): { stream: { write(text: string): void; columns: number }; text(): string } => {
    let written = "";
    return { stream: { write: (text: string) => void (written += text), columns: 200 }, text: () => written };
  };

  it("writes nothing at all when stderr is not a terminal", () => {
    const { stream, text } = capture();
    line = new ProgressLine(stream, false);
    line.start();
    line.update({ host: "mx.example.com", address: "", port: 25, phase: Phase.PHASE_RESOLVE });
    line.stop();
    expect(text()).toBe("");
  });

  it("redraws one line with the current phase of each target, and clears it when stopped", () => {
    const { stream, text } = capture();
    line = new ProgressLine(stream, true);
    line.start();
    line.update({ host: "mx.example.com", address: "", port: 25, phase: Phase.PHASE_RESOLVE });
    expect(text()).toMatch(/\r\x1b\[2K. probing mx\.example\.com:25 DNS resolution$/);
    line.update({ host: "mx.example.com", address: "192.0.2.1", port: 25, phase: Phase.PHASE_CONNECT });
    line.update({ host: "mx.example.com", address: "2001:db8::1", port: 587, phase: Phase.PHASE_EHLO_TLS });
    expect(text()).toMatch(/probing 192\.0\.2\.1:25 TCP connect · \[2001:db8::1\]:587 EHLO over TLS$/);
    line.finishPort(25);
    expect(text()).toMatch(/probing \[2001:db8::1\]:587 EHLO over TLS$/);
    line.stop();
    expect(text().endsWith("\r\x1b[2K")).toBe(true);
    expect(text()).not.toContain("\n");
  });
});

describe("ProgressLine: a banner that keeps us waiting", () => {
  let line: ProgressLine | undefined;
  afterEach(() => line?.stop());

  it("after 3 s of silence on a port that may speak implicit TLS, the line says so; not on 25", () => {
    let now = 1000;
    let written = "";
    const stream = { write: (text: string) => void (written += text), columns: 200 };
    line = new ProgressLine(stream, true, { mayBeImplicitTls: (port) => port !== 25, now: () => now });
    line.start();
    line.update({ host: "127.0.0.1", address: "127.0.0.1", port: 5870, phase: Phase.PHASE_BANNER });
    line.update({ host: "127.0.0.1", address: "127.0.0.1", port: 25, phase: Phase.PHASE_BANNER });
    expect(written).toMatch(/probing 127\.0\.0\.1:5870 banner · 127\.0\.0\.1:25 banner$/);
    now += SILENT_BANNER_HINT_MS;
    // The same phase again (a heartbeat) keeps the time it started.
    line.update({ host: "127.0.0.1", address: "127.0.0.1", port: 5870, phase: Phase.PHASE_BANNER });
    expect(written).toMatch(/probing 127\.0\.0\.1:5870 banner: silent so far \(implicit TLS\? --tls implicit\) · 127\.0\.0\.1:25 banner$/);
  });
});
