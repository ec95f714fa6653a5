import { describe, expect, it } from "vitest";
import { HandshakeResult, StarttlsEnforcementStatus, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { classifyMailReply, reasonNotToCheck } from "../../../../agents/smtp/starttls-enforcement.js";
import { resolveOptions } from "../../../../agents/smtp/options.js";

const { STARTTLS_ENFORCEMENT_STATUS_REQUIRED: REQUIRED, STARTTLS_ENFORCEMENT_STATUS_NOT_REQUIRED: NOT_REQUIRED, STARTTLS_ENFORCEMENT_STATUS_AUTH_REQUIRED: AUTH, STARTTLS_ENFORCEMENT_STATUS_REFUSED: REFUSED } =
  StarttlsEnforcementStatus;

describe("classifyMailReply", () => {
  it.each([
    { server: "Postfix (smtpd_tls_security_level = encrypt)", code: 530, enhancedCode: "5.7.0", line: "5.7.0 Must issue a STARTTLS command first", status: REQUIRED },
    { server: "Exchange", code: 530, enhancedCode: "5.7.0", line: "5.7.0 Must issue a STARTTLS command first", status: REQUIRED },
    { server: "a temporary demand", code: 451, enhancedCode: "4.7.3", line: "4.7.3 STARTTLS is required to send mail", status: REQUIRED },
    { server: "Exim", code: 550, enhancedCode: "", line: "TLS required", status: REQUIRED },
    { server: "X.7.10 alone (RFC 5248: encryption needed)", code: 554, enhancedCode: "5.7.10", line: "5.7.10 go away", status: REQUIRED },
    { server: "a bare 530 (RFC 3207 §4's code)", code: 530, enhancedCode: "", line: "", status: REQUIRED },
    { server: "Postfix accepting", code: 250, enhancedCode: "2.1.0", line: "2.1.0 Ok", status: NOT_REQUIRED },
    { server: "authentication first (RFC 4954 §6)", code: 530, enhancedCode: "5.7.0", line: "5.7.0 Authentication required", status: AUTH },
    { server: "Exchange, not authenticated", code: 530, enhancedCode: "5.7.1", line: "5.7.1 Client was not authenticated", status: AUTH },
    { server: "a refused sender", code: 553, enhancedCode: "5.1.8", line: "5.1.8 Sender address rejected", status: REFUSED },
    { server: "greylisting", code: 451, enhancedCode: "4.7.1", line: "4.7.1 try again later", status: REFUSED },
  ])("$server: $code $line", ({ code, enhancedCode, line, status }) => {
    expect(classifyMailReply({ code, enhancedCode, lines: [line] })).toBe(status);
  });
});

describe("reasonNotToCheck", () => {
  const base = HandshakeResult.fromPartial({ address: "192.0.2.1", port: 587, banner: { code: 220, lines: ["ok"] } });
  it("checks a port that greeted with 220 in plaintext", () => {
    expect(reasonNotToCheck(base, resolveOptions(undefined, 587, ""))).toBeUndefined();
    expect(reasonNotToCheck(base, resolveOptions({ tlsMode: TlsMode.TLS_MODE_NONE } as never, 587, ""))).toBeUndefined();
  });
  it("says why not otherwise", () => {
    expect(reasonNotToCheck(base, resolveOptions(undefined, 465, ""))).toMatch(/implicit TLS/);
    expect(reasonNotToCheck(HandshakeResult.fromPartial({ ...base, banner: { code: 554, lines: ["no"] } }), resolveOptions(undefined, 587, ""))).toMatch(/220 banner/);
  });
});
