// deploy/grpc-health.mjs, the coordinator's container health check, against a real gRPC server
// with the coordinator's health service (services/coordinator/server.ts), over TLS and plaintext.
import { ServerCredentials } from "@grpc/grpc-js";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startGrpcServer, type GrpcServer } from "../../../services/coordinator/server.js";
import { freePort } from "../../helpers/free-port.js";
import { testPki } from "../../helpers/certs.js";

const SCRIPT = fileURLToPath(new URL("../../../deploy/grpc-health.mjs", import.meta.url));

function runCheck(env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The script's own bound is 3 s; this one only keeps a broken script from hanging the test.
    execFile(process.execPath, [SCRIPT, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 10_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("deploy/grpc-health.mjs", () => {
  let server: GrpcServer | undefined;
  afterEach(async () => {
    await server?.stop(0);
    server = undefined;
  });

  it("over TLS: SERVING exits 0; NOT_SERVING exits 1, and 0 with --live", async () => {
    const pki = await testPki();
    const leaf = await pki.leaf({ names: ["coordinator.test"] });
    server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      service: {},
      credentials: ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(leaf.certPem), private_key: Buffer.from(leaf.keyPem) }], false),
    });
    // A wildcard listen address is checked on loopback; the variable's value is only a flag here.
    const env = { SMTP_PROBE_LISTEN: `0.0.0.0:${server.port}`, SMTP_PROBE_TLS_CERT: "/etc/smtp-probe/tls/tls.crt" };

    expect(await runCheck(env)).toMatchObject({ code: 1, stderr: "grpc-health: unhealthy: NOT_SERVING\n" });
    expect(await runCheck(env, ["--live"])).toMatchObject({ code: 0, stdout: "grpc-health: NOT_SERVING\n" });
    server.setServing(true);
    expect(await runCheck(env)).toMatchObject({ code: 0, stdout: "grpc-health: SERVING\n" });
    // Plaintext against a TLS port: no gRPC answer.
    expect((await runCheck({ SMTP_PROBE_LISTEN: `127.0.0.1:${server.port}` })).code).toBe(1);
  });

  it("over plaintext, without SMTP_PROBE_TLS_CERT", async () => {
    server = await startGrpcServer({ host: "127.0.0.1", port: 0, service: {} });
    server.setServing(true);
    expect(await runCheck({ SMTP_PROBE_LISTEN: `127.0.0.1:${server.port}` })).toMatchObject({ code: 0, stdout: "grpc-health: SERVING\n" });
  });

  it("nothing listening, or no port in SMTP_PROBE_LISTEN: exit 1 with the reason", async () => {
    const closed = await freePort();
    const refused = await runCheck({ SMTP_PROBE_LISTEN: `127.0.0.1:${closed}` });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^grpc-health: unhealthy: .*ECONNREFUSED/);
    expect(await runCheck({ SMTP_PROBE_LISTEN: "127.0.0.1" })).toMatchObject({ code: 1, stderr: "grpc-health: unhealthy: SMTP_PROBE_LISTEN=127.0.0.1: no port to check\n" });
  });
});
