import { afterEach, describe, expect, it } from "vitest";
import { Phase } from "../../../gen/smtpprobe/v1/handshake.js";
import { ProgressLine } from "../../../cli/progress.js";

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
