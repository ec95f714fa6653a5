import { describe, expect, it } from "vitest";
import { readTlsRpt } from "../../../../../agents/smtp/mail-policy/tls-rpt.js";
import { TlsRptStatus } from "../../../../../gen/smtpprobe/v1/handshake.js";

describe("readTlsRpt (RFC 8460 §3)", () => {
  it.each([
    ["mailto", [["v=TLSRPTv1; rua=mailto:tls@example.com"]], TlsRptStatus.TLS_RPT_STATUS_VALID, ["mailto:tls@example.com"], ""],
    ["two URIs", [["v=TLSRPTv1;rua=mailto:a@example.com,https://reports.example.com/tls"]], TlsRptStatus.TLS_RPT_STATUS_VALID, ["mailto:a@example.com", "https://reports.example.com/tls"], ""],
    ["in many strings", [["v=TLSRPTv1; ", "rua=mailto:", "tls@example.com"]], TlsRptStatus.TLS_RPT_STATUS_VALID, ["mailto:tls@example.com"], ""],
    ["not published", [["v=spf1 -all"]], TlsRptStatus.TLS_RPT_STATUS_NOT_PUBLISHED, [], ""],
    ["two records", [["v=TLSRPTv1; rua=mailto:a@example.com"], ["v=TLSRPTv1; rua=mailto:b@example.com"]], TlsRptStatus.TLS_RPT_STATUS_INVALID, [], "2 _smtp._tls records"],
    ["no rua", [["v=TLSRPTv1; ruf=mailto:a@example.com"]], TlsRptStatus.TLS_RPT_STATUS_INVALID, [], "no rua= field"],
    ["an ftp URI", [["v=TLSRPTv1; rua=ftp://example.com/"]], TlsRptStatus.TLS_RPT_STATUS_INVALID, ["ftp://example.com/"], "not a mailto: or https: URI"],
    ["an http URI", [["v=TLSRPTv1; rua=http://example.com/"]], TlsRptStatus.TLS_RPT_STATUS_INVALID, ["http://example.com/"], "not a mailto: or https: URI"],
  ])("%s", (_name, txt, status, rua, reason) => {
    const r = readTlsRpt(txt);
    expect(r.status).toBe(status);
    expect(r.rua).toEqual(rua);
    if (reason) expect(r.reason).toContain(reason);
    else expect(r.reason).toBe("");
  });
});

describe("readTlsRpt bounds", () => {
  it("keeps at most 16 rua URIs", () => {
    const uris = Array.from({ length: 20 }, (_, i) => `mailto:r${i}@example.com`);
    const r = readTlsRpt([[`v=TLSRPTv1; rua=${uris.join(",")}`]]);
    expect(r.status).toBe(TlsRptStatus.TLS_RPT_STATUS_VALID);
    expect(r.rua).toEqual(uris.slice(0, 16));
  });

  it("quotes a bad URI with its control characters escaped and its length bounded", () => {
    const r = readTlsRpt([[`v=TLSRPTv1; rua=ftp://x\r\n${"a".repeat(100)}`]]);
    expect(r.status).toBe(TlsRptStatus.TLS_RPT_STATUS_INVALID);
    expect(r.reason).toContain('"ftp://x\\x0d\\x0a');
    expect(r.reason).not.toMatch(/[\r\n]/);
    expect(r.reason).toContain("…");
  });
});
