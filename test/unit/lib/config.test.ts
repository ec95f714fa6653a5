import { describe, expect, it } from "vitest";
import { ConfigError, resolveSettings, type Settings } from "../../../lib/config.js";
import { duration, hostPort, integer, parseHostPort, portList } from "../../../lib/config-schemas.js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENGINE_SETTINGS, readCaFileSetting } from "../../../lib/common-settings.js";
import { testPki } from "../../helpers/certs.js";
import { COORDINATOR_SETTINGS } from "../../../services/coordinator/settings.js";

const SETTINGS = {
  listen: { flag: "--listen", env: "T_LISTEN", placeholder: "HOST:PORT", default: "127.0.0.1:50051", description: "", schema: hostPort },
  deadline: { flag: "--max-deadline", env: "T_DEADLINE", placeholder: "D", default: "120s", description: "", schema: duration },
  ports: { flag: "--allow-ports", env: "T_PORTS", placeholder: "P", repeatable: true, default: "25,587", description: "", schema: portList },
  workers: { flag: "--concurrency", env: "T_WORKERS", placeholder: "N", default: "32", description: "", schema: integer(1, 100) },
} satisfies Settings;

describe("resolveSettings", () => {
  it("takes the flag over the variable over the default", () => {
    expect(resolveSettings(SETTINGS, {}, {})).toEqual({ listen: "127.0.0.1:50051", deadline: 120_000, ports: [25, 587], workers: 32 });
    expect(resolveSettings(SETTINGS, {}, { T_DEADLINE: "500ms", T_PORTS: "25, 2525" })).toMatchObject({ deadline: 500, ports: [25, 2525] });
    expect(resolveSettings(SETTINGS, { maxDeadline: "2m", allowPorts: ["465", "587"] }, { T_DEADLINE: "500ms" })).toMatchObject({
      deadline: 120_000,
      ports: [465, 587],
    });
  });

  it.each([
    [{ listen: "nope" }, {}, /^--listen: must be HOST:PORT/],
    [{}, { T_LISTEN: "1.2.3.4:99999" }, /^T_LISTEN: must be HOST:PORT/],
    [{}, { T_DEADLINE: "soon" }, /^T_DEADLINE: must be a duration/],
    [{}, { T_PORTS: "25,http" }, /^T_PORTS: "http" is not a port/],
    [{ concurrency: "0" }, {}, /^--concurrency: must be at least 1/],
    [{}, { T_WORKERS: "2.5" }, /^T_WORKERS: must be a whole number/],
  ])("names the flag or variable that is wrong: %o %o", (flags, env, message) => {
    const attempt = () => resolveSettings(SETTINGS, flags, env);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });
});

describe("parseHostPort", () => {
  it.each([
    ["127.0.0.1:50051", { host: "127.0.0.1", port: 50051 }],
    ["[::1]:4222", { host: "::1", port: 4222 }],
    ["coordinator.internal:443", { host: "coordinator.internal", port: 443 }],
    ["::1:4222", undefined],
    ["[nope]:1", undefined],
    ["host:0", undefined],
    ["host", undefined],
  ])("%s", (text, expected) => {
    expect(parseHostPort(text)).toEqual(expected);
  });
});

describe("the shared --dns-server setting", () => {
  it("takes IP, IP:PORT and [IPv6]:PORT in node:dns's form", () => {
    expect(resolveSettings({ dnsServer: ENGINE_SETTINGS.dnsServer }, { dnsServer: ["127.0.0.1:5353", "[::1]:53", "192.0.2.53"] }, {})).toEqual({
      dnsServer: ["127.0.0.1:5353", "[::1]:53", "192.0.2.53"],
    });
  });

  it.each([
    [{ dnsServer: ["dns.example"] }, {}, '--dns-server: "dns.example" is not an IP address'],
    [{}, { SMTP_PROBE_DNS_SERVERS: "127.0.0.1,127.0.0.1:0" }, 'SMTP_PROBE_DNS_SERVERS: "127.0.0.1:0" has a bad port "0"'],
  ])("refuses a value node:dns would throw on at every probe: %o %o", (flags, env, message) => {
    expect(() => resolveSettings({ dnsServer: ENGINE_SETTINGS.dnsServer }, flags, env)).toThrow(message);
  });
});

describe("the coordinator's --heartbeat", () => {
  const heartbeat = { heartbeat: COORDINATOR_SETTINGS.heartbeat };
  it.each([["50ms", 50], ["1s", 1000], ["60s", 60_000]])("takes %s", (value, ms) => {
    expect(resolveSettings(heartbeat, { heartbeat: value }, {})).toEqual({ heartbeat: ms });
  });

  it.each(["0", "10ms", "49ms", "61s", "1h"])("refuses %s: agents send heartbeats 50 ms to 60 s apart, and an agent silent for 3 is lost", (value) => {
    expect(() => resolveSettings(heartbeat, { heartbeat: value }, {})).toThrow("--heartbeat: must be between 50ms and 60s");
  });
});

describe("--ca-file of the coordinator and the agent", () => {
  it("is read and checked at start-up: a file with no certificate, or a broken one, is a ConfigError naming the flag", async () => {
    const dir = await mkdtemp(join(tmpdir(), "smtp-probe-ca-"));
    try {
      const file = (name: string, text: string): Promise<string> => writeFile(join(dir, name), text).then(() => join(dir, name));
      const good = (await testPki()).ca.certPem;
      expect(await readCaFileSetting(await file("good.pem", `junk before\n${good}`))).toBe(`${good.trim()}\n`);
      await expect(readCaFileSetting(await file("empty.pem", "not a certificate\n"))).rejects.toThrow(/^--ca-file: .*empty\.pem holds no PEM certificate/);
      const broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
      await expect(readCaFileSetting(await file("broken.pem", `${good}${broken}`))).rejects.toThrow(/broken\.pem certificate 2 of 2 does not parse/);
      await expect(readCaFileSetting(join(dir, "missing.pem"))).rejects.toThrow(/^--ca-file: cannot read .*missing\.pem: ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
