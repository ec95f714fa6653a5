import { describe, expect, it } from "vitest";
import { Phase } from "../../../../gen/smtpprobe/v1/handshake.js";
import { phaseLabel, phaseNames } from "../../../../agents/smtp/phases.js";

describe("phaseNames: one snake name and one label per phase", () => {
  it.each([
    [Phase.PHASE_UNSPECIFIED, "unspecified", "start"],
    [Phase.PHASE_RESOLVE, "resolve", "DNS resolution"],
    [Phase.PHASE_POLICY, "policy", "policy check"],
    [Phase.PHASE_CONNECT, "connect", "TCP connect"],
    [Phase.PHASE_TLS_CONNECT, "tls_connect", "implicit TLS handshake"],
    [Phase.PHASE_BANNER, "banner", "banner"],
    [Phase.PHASE_EHLO, "ehlo", "EHLO"],
    [Phase.PHASE_HELO, "helo", "HELO"],
    [Phase.PHASE_STARTTLS, "starttls", "STARTTLS"],
    [Phase.PHASE_TLS, "tls", "TLS handshake"],
    [Phase.PHASE_EHLO_TLS, "ehlo_tls", "EHLO over TLS"],
    [Phase.PHASE_QUIT, "quit", "QUIT"],
    [Phase.PHASE_DONE, "done", "done"],
  ])("%s: %s, %s", (phase, name, label) => {
    expect(phaseNames(phase)).toEqual({ name, label });
    expect(phaseLabel(phase)).toBe(label);
  });

  it("names every phase of the contract, so a new one cannot go unnamed", () => {
    for (const phase of Object.values(Phase).filter((v): v is Phase => typeof v === "number" && v >= 0)) {
      expect(phaseNames(phase).label).not.toMatch(/^phase /);
      expect(phaseNames(phase).name).not.toBe("unknown");
    }
  });

  it.each([
    [42 as Phase, "unknown", "phase 42"],
    [Phase.UNRECOGNIZED, "unknown", "phase -1"],
  ])("a phase outside the enum (%s) is named, not dropped", (phase, name, label) => {
    expect(phaseNames(phase)).toEqual({ name, label });
  });
});
