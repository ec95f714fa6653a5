import { describe, expect, it } from "vitest";
import { loadCoordinatorCredentials, refuseCredentialFlagsLocally } from "../../../cli/coordinator-credentials.js";
import { UsageError } from "../../../cli/usage-error.js";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const files: Record<string, string> = { "ca.pem": PEM, "c.pem": PEM, "c.key": PEM.replace(/CERTIFICATE/g, "PRIVATE KEY"), "junk.txt": "hello" };
const readFile = async (path: string): Promise<string> => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error("nope"), { code: "ENOENT" });
  return text;
};

describe("loadCoordinatorCredentials", () => {
  it("nothing given: plaintext, no token", async () => {
    expect(await loadCoordinatorCredentials({}, undefined, readFile)).toEqual({});
    expect(await loadCoordinatorCredentials({}, "  ", readFile)).toEqual({});
  });
  it("--token wins over SMTP_PROBE_TOKEN", async () => {
    expect(await loadCoordinatorCredentials({ token: "flag-token" }, "env-token", readFile)).toEqual({ token: "flag-token" });
    expect(await loadCoordinatorCredentials({}, "env-token", readFile)).toEqual({ token: "env-token" });
  });
  it("TLS with a CA, and mutual TLS", async () => {
    expect(await loadCoordinatorCredentials({ coordinatorCa: "ca.pem" }, undefined, readFile)).toEqual({ tls: { caPem: PEM } });
    const both = await loadCoordinatorCredentials({ coordinatorCa: "ca.pem", clientCert: "c.pem", clientKey: "c.key" }, undefined, readFile);
    expect(both.tls?.client?.certPem).toBe(PEM);
  });
  it.each<[string, Parameters<typeof loadCoordinatorCredentials>[0], string | undefined, string]>([
    ["a token with a space, not shown", { token: "two words" }, undefined, "--token: must be printable ASCII without spaces (the token is not shown)"],
    ["a bad token from the variable names the variable", {}, "bad\ttoken", "SMTP_PROBE_TOKEN: must be printable ASCII without spaces (the token is not shown)"],
    ["--client-cert alone", { clientCert: "c.pem" }, undefined, "--client-cert: needs --client-key (the certificate's private key)"],
    ["--client-key alone", { clientKey: "c.key" }, undefined, "--client-key: needs --client-cert (the certificate that goes with the key)"],
    ["an unreadable CA file", { coordinatorCa: "missing.pem" }, undefined, '--coordinator-ca: cannot read "missing.pem": ENOENT'],
    ["a CA file that is not PEM", { coordinatorCa: "junk.txt" }, undefined, '--coordinator-ca: "junk.txt" is not PEM'],
  ])("refuses %s", async (_, flags, env, message) => {
    const error = await loadCoordinatorCredentials(flags, env, readFile).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(message);
  });
});

describe("refuseCredentialFlagsLocally", () => {
  it("refuses --token in local mode, naming it", () => {
    expect(() => refuseCredentialFlagsLocally({ token: "x" })).toThrow(/^--token: only with --coordinator/);
    expect(() => refuseCredentialFlagsLocally({})).not.toThrow();
  });
});
