// Caller identity end to end: embedded coordinators (no NATS) as child processes of the real
// binary — one with bearer tokens in plaintext on 127.0.0.1, one with TLS and mutual TLS — gRPC
// clients with and without credentials, the CLI with good and bad tokens, and the start-up rules.
// Nothing outside 127.0.0.1 is contacted.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { separatePki, testPki, type PemPair } from "../helpers/certs.js";
import { freePort } from "../helpers/free-port.js";
import { callError, connectProbeApi, describeError, type ConnectOptions } from "../helpers/grpc-client.js";
import { runCli, spawnChild, START_HOOK_TIMEOUT_MS, startCoordinatorProcess, startedAll, stopAll, type CoordinatorProcess } from "../helpers/processes.js";

const TOKEN = "s3cret-token-for-ci-bot-0123456789";
const TEST_MS = 40_000;

let dir: string;
let ca: PemPair;
let clientLeaf: PemPair;
let otherClient: PemPair;
let otherCaClient: PemPair;
let expiredClient: PemPair;
let tokens: CoordinatorProcess;
let mtls: CoordinatorProcess;
let closedPort: number;

const file = (name: string): string => join(dir, name);

function tlsChannel(client?: PemPair): ConnectOptions["channel"] {
  return credentials.createSsl(Buffer.from(ca.certPem), client ? Buffer.from(client.keyPem) : null, client ? Buffer.from(client.certPem) : null);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "smtp-probe-auth-"));
  const pki = await testPki();
  ca = pki.ca;
  const server = await pki.leaf({ names: ["localhost", "127.0.0.1"] });
  clientLeaf = await pki.leaf({ names: ["ci-client"], clientAuth: true });
  // Signed by a CA the coordinator does not trust.
  otherClient = await pki.leaf({ names: ["intruder"], clientAuth: true, selfSigned: true });
  // Issued by another CA: a valid chain, to a root the coordinator does not trust.
  otherCaClient = await (await separatePki()).leaf({ names: ["ci-client"], clientAuth: true });
  // Issued by the trusted CA, but its notAfter has passed.
  expiredClient = await pki.leaf({ names: ["expired-client"], clientAuth: true, expired: true });
  closedPort = await freePort();
  await Promise.all([
    writeFile(file("tokens.txt"), `# callers of the test\n\n${TOKEN} ci-bot\n`),
    writeFile(file("ca.pem"), ca.certPem),
    writeFile(file("server.pem"), server.certPem),
    writeFile(file("server.key"), server.keyPem),
    writeFile(file("client.pem"), clientLeaf.certPem),
    writeFile(file("client.key"), clientLeaf.keyPem),
  ]);
  const common = { allowCidrs: ["127.0.0.0/8"], allowPorts: [closedPort] };
  const started = await startedAll([
    startCoordinatorProcess({ ...common, extraArgs: ["--auth-tokens", file("tokens.txt"), "--log-level", "info"] }),
    startCoordinatorProcess({
      ...common,
      extraArgs: ["--tls-cert", file("server.pem"), "--tls-key", file("server.key"), "--client-ca", file("ca.pem"), "--log-level", "info"],
      connect: { channel: tlsChannel(clientLeaf) },
    }),
  ]);
  tokens = started[0]!;
  mtls = started[1]!;
}, START_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await stopAll([tokens, mtls]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("bearer tokens (--auth-tokens, plaintext on 127.0.0.1)", () => {
  it("refuses a call without a token: UNAUTHENTICATED", async () => {
    const api = connectProbeApi(tokens.address);
    try {
      const error = await callError(api.listRegions());
      expect(error.code, describeError(error)).toBe(status.UNAUTHENTICATED);
      expect(error.details).toBe("missing or invalid bearer token");
    } finally {
      api.close();
    }
  });

  it("refuses a wrong token: UNAUTHENTICATED, and no handler runs (no probe logged)", async () => {
    const api = connectProbeApi(tokens.address, { token: `${TOKEN}x` });
    try {
      const error = await callError(api.probe({ host: "127.0.0.1", ports: [closedPort] }));
      expect(error.code, describeError(error)).toBe(status.UNAUTHENTICATED);
      expect(tokens.output()).not.toContain("probe accepted");
    } finally {
      api.close();
    }
  });

  it("answers a good token, and logs the caller with the probe", async () => {
    const api = connectProbeApi(tokens.address, { token: TOKEN });
    try {
      const { regions } = await api.listRegions();
      expect(regions.map((r) => r.name)).toEqual(["local"]);
      const report = await api.probe({ host: "127.0.0.1", ports: [closedPort] });
      expect(report.probeId).not.toBe("");
      expect(tokens.output()).toMatch(/"caller":"ci-bot"[^\n]*"probe accepted"/);
      expect(tokens.output()).not.toContain(TOKEN);
    } finally {
      api.close();
    }
  });

  it("leaves the health service open", async () => {
    const api = connectProbeApi(tokens.address);
    try {
      expect(await api.health("")).toBe("SERVING");
    } finally {
      api.close();
    }
  });

  it("the CLI: regions with the good token exits 0, with a bad or no token 2 (one line, the token never printed)", { timeout: TEST_MS }, async () => {
    const [good, bad, none, fromEnv] = await Promise.all([
      runCli(["regions", "--coordinator", tokens.address, "--token", TOKEN, "--no-color"]),
      runCli(["regions", "--coordinator", tokens.address, "--token", "wrong-token-0123456789"]),
      runCli(["regions", "--coordinator", tokens.address]),
      runCli(["regions", "--coordinator", tokens.address], { SMTP_PROBE_TOKEN: TOKEN }),
    ]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^local /m);
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    for (const run of [bad, none]) {
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe(
        `smtp-probe: the coordinator ${tokens.address} refused the credentials: missing or invalid bearer token (give --token or SMTP_PROBE_TOKEN, or --client-cert and --client-key)\n`,
      );
    }
    expect(bad.stderr).not.toContain("wrong-token");
  });
});

describe("mutual TLS (--tls-cert, --tls-key, --client-ca)", () => {
  it("answers a TLS client with a certificate from the CA, and logs its CN as the caller", async () => {
    const api = connectProbeApi(mtls.address, { channel: tlsChannel(clientLeaf) });
    try {
      const { regions } = await api.listRegions();
      expect(regions.map((r) => r.name)).toEqual(["local"]);
      await api.probe({ host: "127.0.0.1", ports: [closedPort] });
      expect(mtls.output()).toMatch(/"caller":"ci-client"[^\n]*"probe accepted"/);
    } finally {
      api.close();
    }
  });

  it.each([
    ["without a client certificate", undefined],
    ["with a certificate the CA did not sign (another issuer: itself)", "other"],
    ["with a certificate from another CA (same caller name)", "other-ca"],
    ["with an expired certificate from the trusted CA", "expired"],
  ])("refuses a TLS client %s: the handshake fails, UNAVAILABLE", async (_, which) => {
    const client = which === "other" ? otherClient : which === "other-ca" ? otherCaClient : which === "expired" ? expiredClient : undefined;
    const api = connectProbeApi(mtls.address, { channel: tlsChannel(client) });
    try {
      const error = await callError(api.listRegions({ deadlineMs: 5000 }));
      expect(error.code, describeError(error)).toBe(status.UNAVAILABLE);
    } finally {
      api.close();
    }
  });

  it("refuses a plaintext client", async () => {
    const api = connectProbeApi(mtls.address);
    try {
      const error = await callError(api.listRegions({ deadlineMs: 5000 }));
      expect(error.code, describeError(error)).toBe(status.UNAVAILABLE);
    } finally {
      api.close();
    }
  });

  it("the CLI with --coordinator-ca, --client-cert and --client-key exits 0; without the certificate 4", { timeout: TEST_MS }, async () => {
    const [good, noCert] = await Promise.all([
      runCli(["regions", "--coordinator", mtls.address, "--coordinator-ca", file("ca.pem"), "--client-cert", file("client.pem"), "--client-key", file("client.key")]),
      runCli(["regions", "--coordinator", mtls.address, "--coordinator-ca", file("ca.pem")]),
    ]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^local /m);
    expect(noCert.code, noCert.stderr).toBe(4);
  });
});

describe("start-up rules", () => {
  it.each([
    [["--listen", "0.0.0.0:0"], "smtp-probe: --listen: without caller authentication (--auth-tokens or --client-ca) the coordinator listens on loopback only"],
    [["--listen", "0.0.0.0:0", "--auth-tokens", "tokens.txt"], "smtp-probe: --auth-tokens: bearer tokens over plaintext only on a loopback listen address"],
    [["--listen", "127.0.0.1:0", "--tls-key", "server.key"], "smtp-probe: --tls-key: needs --tls-cert"],
    [["--listen", "127.0.0.1:0", "--auth-tokens", "bad-tokens.txt"], "smtp-probe: --auth-tokens: BAD line 2: the token must be at least 16 characters"],
  ])("%j: exits 2 before binding, naming the flag", { timeout: TEST_MS }, async (args, message) => {
    await writeFile(file("bad-tokens.txt"), `${TOKEN} ok\nshort bad\n`);
    const resolved = args.map((a) => (a.endsWith(".txt") || a.endsWith(".key") ? file(a) : a));
    const child = spawnChild("coordinator", ["coordinator", ...resolved]);
    const { code } = await child.exited;
    expect(code, child.output()).toBe(2);
    expect(child.output()).toContain(message.replace("BAD", file("bad-tokens.txt")));
    expect(child.output()).not.toContain("coordinator serving");
  });

  it("says so when it runs without caller authentication (loopback)", { timeout: START_HOOK_TIMEOUT_MS }, async () => {
    const open = await startCoordinatorProcess();
    try {
      expect(open.output()).toContain("no caller authentication: listening on loopback only");
    } finally {
      await open.stop();
    }
  });
});
