import { describe, expect, it } from "vitest";
import { ConfigError, UnavailableError } from "../../../lib/config.js";
import { classifyNatsConnectError, redactNatsUrl, type NatsConnectContext } from "../../../lib/nats-connect-errors.js";

const error = (code: string | undefined, message = code ?? "boom"): Error => Object.assign(new Error(message), code === undefined ? {} : { code });
const at: NatsConnectContext = { servers: "nats://127.0.0.1:4222" };

describe("classifyNatsConnectError: wait for NATS, or name the setting to fix", () => {
  it.each([
    ["CONNECTION_REFUSED", "connection refused"],
    ["ECONNREFUSED", "connection refused"],
    ["TIMEOUT", "timed out"],
    ["CONNECTION_TIMEOUT", "timed out"],
    ["ENOTFOUND", "host name not found"],
    ["EAI_AGAIN", "host name lookup failed for now"],
    ["EHOSTUNREACH", "host unreachable"],
    ["ENETUNREACH", "network unreachable"],
    ["ECONNRESET", "connection reset"],
  ])("%s: NATS is not there (yet): try again, %s", (code, problem) => {
    expect(classifyNatsConnectError(error(code), at)).toEqual({ retry: true, problem });
  });

  it.each<[string, Error, NatsConnectContext, string, string]>([
    ["refused creds", error("AUTHORIZATION_VIOLATION", "'Authorization Violation'"), { ...at, credsFile: "/run/agent.creds" }, "--nats-creds", "the NATS server at nats://127.0.0.1:4222 refused the credentials in /run/agent.creds (Authorization Violation): check the file, and the account on the server"],
    ["refused user", error("AUTHORIZATION_VIOLATION", "'Authorization Violation'"), { ...at, user: "agent-eu" }, "--nats-user", "the NATS server at nats://127.0.0.1:4222 refused user agent-eu (Authorization Violation): check the user and --nats-password-file"],
    ["credentials wanted", error("AUTHORIZATION_VIOLATION", "'Authorization Violation'"), at, "--nats", "the NATS server at nats://127.0.0.1:4222 wants credentials (Authorization Violation): give --nats-creds, or --nats-user and --nats-password-file"],
    ["expired", error("AUTHENTICATION_EXPIRED", "User Authentication Expired"), { ...at, credsFile: "c" }, "--nats-creds", "the NATS server at nats://127.0.0.1:4222 refused the credentials in c (User Authentication Expired): check the file, and the account on the server"],
    ["not a creds file", error("BAD_CREDS"), { ...at, credsFile: "/run/x.creds" }, "--nats-creds", "/run/x.creds is not a NATS credentials file (a user JWT and an NKey seed, as nsc writes it)"],
    ["self-signed, no --nats-ca", error("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"), at, "--nats-ca", "the TLS certificate of the NATS server at nats://127.0.0.1:4222 is not trusted (self-signed certificate): give the CA that signed it with --nats-ca"],
    ["untrusted by --nats-ca", error("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"), { ...at, tls: { caFile: "/ca.pem" } }, "--nats-ca", "the TLS certificate of the NATS server at nats://127.0.0.1:4222 is not trusted by /ca.pem (unable to verify the first certificate): give the CA that signed it with --nats-ca"],
    ["wrong name", error("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match certificate's altnames"), at, "--nats", "the TLS certificate of the NATS server at nats://127.0.0.1:4222 does not name that host (Hostname/IP does not match certificate's altnames): connect by a name the certificate holds"],
    ["no TLS on the server", error("SERVER_OPT_NA", "tls"), { ...at, tls: { caFile: "/ca.pem" } }, "--nats-ca", "the NATS server at nats://127.0.0.1:4222 does not offer TLS, but --nats-ca/--nats-cert ask for it: use the server's TLS port, or drop the TLS settings"],
  ])("%s: a ConfigError naming the setting, no waiting", (_name, err, context, setting, problem) => {
    const verdict = classifyNatsConnectError(err, context);
    expect(verdict.retry).toBe(false);
    const thrown = (verdict as { error: ConfigError }).error;
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(thrown).toMatchObject({ setting, problem });
  });

  it("anything else: an UnavailableError naming the URL and what was seen", () => {
    const verdict = classifyNatsConnectError(error("NATS_PROTOCOL_ERR"), at);
    expect(verdict.retry).toBe(false);
    const thrown = (verdict as { error: UnavailableError }).error;
    expect(thrown).toBeInstanceOf(UnavailableError);
    expect(thrown.message).toBe("--nats: cannot connect to NATS at nats://127.0.0.1:4222 (NATS_PROTOCOL_ERR): check the URL (--nats, SMTP_PROBE_NATS_URL) and the server");
  });

  it("never shows a password in the URL", () => {
    expect(redactNatsUrl("nats://agent:s3cret@10.0.0.1:4222,tls://u:p@nats.example:4443")).toBe("nats://***@10.0.0.1:4222,tls://***@nats.example:4443");
    const verdict = classifyNatsConnectError(error("AUTHORIZATION_VIOLATION"), { servers: "nats://agent:s3cret@127.0.0.1:4222" });
    expect(JSON.stringify((verdict as { error: Error }).error.message)).not.toContain("s3cret");
  });
});
