import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../../lib/config.js";
import {
  callerFromCertificate,
  checkAuthSettings,
  isLoopbackHost,
  parseTokenFile,
  tokenMatcher,
  type AuthSettings,
} from "../../../../services/coordinator/caller-auth.js";

const T1 = "abcdefghijklmnop"; // 16 characters
const T2 = "Zm9vYmFyLWJhei0xMjM0NTY3OA==";

describe("parseTokenFile", () => {
  it.each<[string, string, [string, string][]]>([
    ["one line", `${T1} ci-bot\n`, [[T1, "ci-bot"]]],
    ["comments, blank lines, CRLF and spaces around", `# callers\n\n  ${T1}\tci-bot  \r\n   # more\r\n${T2} alice@example.com\n`, [[T1, "ci-bot"], [T2, "alice@example.com"]]],
    ["two tokens may name the same caller", `${T1} ops\n${T2} ops`, [[T1, "ops"], [T2, "ops"]]],
  ])("accepts %s", (_, text, expected) => {
    expect([...parseTokenFile(text, "tokens.txt")]).toEqual(expected);
  });

  it.each<[string, string, string]>([
    ["a token alone", `# x\n${T1}\n`, "--auth-tokens: tokens.txt line 2: must be \"TOKEN CALLER-NAME\" (got 1 field)"],
    ["three fields", `${T1} ci bot\n`, "--auth-tokens: tokens.txt line 1: must be \"TOKEN CALLER-NAME\" (got 3 fields)"],
    ["a short token", `\n\nshort-token ci\n`, "--auth-tokens: tokens.txt line 3: the token must be at least 16 characters (got 11)"],
    ["a token with a character a header cannot carry", `${T1}"x ci\n`, "--auth-tokens: tokens.txt line 1: the token may only hold letters, digits and - . _ ~ + / (then = padding)"],
    ["a duplicate token", `${T1} a\n${T1} b\n`, "--auth-tokens: tokens.txt line 2: the same token is already given to a"],
    ["a caller name too long", `${T1} ${"n".repeat(129)}\n`, "--auth-tokens: tokens.txt line 1: the caller name must be 1-128 printable characters without spaces"],
    ["no token at all", "# nothing\n\n", "--auth-tokens: tokens.txt: holds no token (one \"TOKEN CALLER-NAME\" per line)"],
  ])("refuses %s, naming the file and the line", (_, text, message) => {
    expect(() => parseTokenFile(text, "tokens.txt")).toThrow(new ConfigError("--auth-tokens", message.replace(/^--auth-tokens: /, "")));
  });
});

describe("isLoopbackHost", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.255.3.4", true],
    ["::1", true],
    ["[::1]", true],
    ["0:0:0:0:0:0:0:1", true],
    ["localhost", true],
    ["LOCALHOST", true],
    ["0.0.0.0", false],
    ["::", false],
    ["10.0.0.1", false],
    ["198.18.0.1", false],
    ["127.255.255.255", true],
    ["coordinator.internal", false],
  ])("%s → %s", (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe("checkAuthSettings: the start-up rules", () => {
  const error = (flag: string, fragment: string) => ({ flag, fragment });
  it.each<[string, AuthSettings, { flag: string; fragment: string } | { unauthenticated: boolean }]>([
    ["no auth on loopback: allowed, unauthenticated", { listenHost: "127.0.0.1" }, { unauthenticated: true }],
    ["no auth on ::1", { listenHost: "::1" }, { unauthenticated: true }],
    ["no auth on localhost", { listenHost: "localhost" }, { unauthenticated: true }],
    ["no auth on 0.0.0.0: refused", { listenHost: "0.0.0.0" }, error("--listen", "loopback only")],
    ["TLS without auth on 0.0.0.0: refused", { listenHost: "0.0.0.0", tlsCert: "c", tlsKey: "k" }, error("--listen", "without caller authentication")],
    ["tokens in plaintext on loopback", { listenHost: "127.0.0.1", authTokens: "t" }, { unauthenticated: false }],
    ["tokens in plaintext on 0.0.0.0: refused", { listenHost: "0.0.0.0", authTokens: "t" }, error("--auth-tokens", "plaintext only on a loopback")],
    ["tokens over TLS on 0.0.0.0", { listenHost: "0.0.0.0", authTokens: "t", tlsCert: "c", tlsKey: "k" }, { unauthenticated: false }],
    ["mutual TLS on 0.0.0.0", { listenHost: "0.0.0.0", clientCa: "ca", tlsCert: "c", tlsKey: "k" }, { unauthenticated: false }],
    ["--client-ca without TLS", { listenHost: "127.0.0.1", clientCa: "ca" }, error("--client-ca", "needs --tls-cert and --tls-key")],
    ["--tls-key without --tls-cert", { listenHost: "127.0.0.1", tlsKey: "k" }, error("--tls-key", "needs --tls-cert")],
    ["--tls-cert without --tls-key", { listenHost: "127.0.0.1", tlsCert: "c" }, error("--tls-cert", "needs --tls-key")],
    ["the HTTP listener without auth on 0.0.0.0: refused, naming its flag", { listenHost: "0.0.0.0", listenFlag: "--http-listen" }, error("--http-listen", "loopback only")],
    ["the HTTP listener with tokens in plaintext on 0.0.0.0: refused", { listenHost: "0.0.0.0", listenFlag: "--http-listen", authTokens: "t" }, error("--auth-tokens", "got 0.0.0.0 for --http-listen")],
  ])("%s", (_, settings, expected) => {
    if ("unauthenticated" in expected) {
      expect(checkAuthSettings(settings)).toEqual(expected);
      return;
    }
    let thrown: unknown;
    try {
      checkAuthSettings(settings);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).setting).toBe(expected.flag);
    expect((thrown as ConfigError).message).toContain(expected.fragment);
  });
});

describe("callerFromCertificate", () => {
  it("takes the subject CN", () => {
    expect(callerFromCertificate({ subject: { CN: "ci-bot" } as never, subjectaltname: "DNS:other.example" })).toBe("ci-bot");
  });
  it("else the first DNS name", () => {
    expect(callerFromCertificate({ subject: {} as never, subjectaltname: "IP Address:127.0.0.1, DNS:svc.example, DNS:b.example" })).toBe("svc.example");
  });
  it("else nothing", () => {
    expect(callerFromCertificate({ subject: {} as never, subjectaltname: "IP Address:127.0.0.1" })).toBeUndefined();
    expect(callerFromCertificate(undefined)).toBeUndefined();
  });
});

describe("tokenMatcher", () => {
  const match = tokenMatcher(new Map([[T1, "ci-bot"], [T2, "alice"]]));
  it("names the caller of a configured token", () => {
    expect(match(T1)).toBe("ci-bot");
    expect(match(T2)).toBe("alice");
  });
  it("refuses anything else, prefixes and extensions too", () => {
    expect(match("")).toBeUndefined();
    expect(match(T1.slice(0, -1))).toBeUndefined();
    expect(match(`${T1}x`)).toBeUndefined();
  });
});
