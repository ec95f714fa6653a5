// Every NATS configuration shipped in deploy/nats/ is one nats-server accepts (`nats-server -t`),
// the permission blocks keep each region to its own tasks, and the hub's cluster block forms a
// real 3-node JetStream cluster.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNatsBus } from "../../../lib/nats-bus.js";
import { freePort } from "../../helpers/free-port.js";
import {
  DEPLOY_NATS_DIR,
  DEPLOY_REGIONS,
  deployPassword,
  hubEnv,
  leafEnv,
  natsServerAvailable,
  rewriteDeployConfig,
  startNatsServerFromConfig,
  writeDeployTls,
  type ConfigServer,
} from "../../helpers/nats-server.js";
import { need } from "../../helpers/requirements.js";

const nats = await need(natsServerAvailable);
const run = promisify(execFile);
const files = (await readdir(DEPLOY_NATS_DIR)).filter((f) => f.endsWith(".conf")).sort();

/** The variables a file references, for `-t` (a missing one fails the check). */
function envFor(file: string): Record<string, string> {
  if (file === "hub.conf") return hubEnv();
  const region = /^leaf-(.+)\.conf$/.exec(file)?.[1];
  if (!region) throw new Error(`${file}: not a hub or leaf-<region> configuration; add it to this test`);
  return leafEnv(region, 7422);
}

describe("deploy/nats/ holds the hub and one leaf per example region", () => {
  it("lists hub.conf and leaf-<region>.conf for every region", () => {
    expect(files).toEqual(["hub.conf", ...DEPLOY_REGIONS.map((r) => `leaf-${r}.conf`)]);
  });

  it("every region's leaf user at the hub denies every other region's tasks, and its agents subscribe to their own only", async () => {
    const hub = await readFile(join(DEPLOY_NATS_DIR, "hub.conf"), "utf8");
    const regions = [...hub.matchAll(/^LEAF_([A-Z_]+)_PERMISSIONS:/gm)].map((m) => m[1]!.toLowerCase().replace(/_/g, "-"));
    expect(regions.sort()).toEqual([...DEPLOY_REGIONS].sort());
    for (const region of regions) {
      const block = permissionBlock(hub, `LEAF_${region.toUpperCase().replace(/-/g, "_")}_PERMISSIONS`);
      const deny = /deny: \[([^\]]*)\]/.exec(block)?.[1] ?? "";
      for (const other of regions.filter((r) => r !== region)) expect(deny, `leaf-${region} denies ${other}'s tasks`).toContain(`"smtpprobe.v1.probe.${other}"`);
      expect(deny).not.toContain(`"smtpprobe.v1.probe.${region}"`);
      const agent = permissionBlock(hub, `AGENT_${region.toUpperCase().replace(/-/g, "_")}_PERMISSIONS`);
      expect(agent).toContain(`"smtpprobe.v1.probe.${region} smtpprobe-${region}"`);
      expect(agent.match(/smtpprobe\.v1\.(probe|cancel|permit)\.[a-z0-9*-]+/g)?.every((s) => s.endsWith(`.${region}`))).toBe(true);
      const leaf = await readFile(join(DEPLOY_NATS_DIR, `leaf-${region}.conf`), "utf8");
      expect(leaf.match(/smtpprobe\.v1\.(probe|cancel|permit)\.[a-z0-9*-]+/g)?.every((s) => s.endsWith(`.${region}`))).toBe(true);
    }
  });
});

describe.skipIf(nats.skip)("nats-server -t accepts every configuration", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-nats-t-"));
    // -t loads the TLS files, so they must exist: the only thing moved from the shipped file.
    await writeDeployTls(join(dir, "tls"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(files)("%s", async (file) => {
    const text = (await readFile(join(DEPLOY_NATS_DIR, file), "utf8")).replaceAll("/etc/nats/tls/", `${join(dir, "tls")}/`);
    const path = join(dir, file);
    await writeFile(path, text);
    const { stdout, stderr } = await run("nats-server", ["-t", "-c", path], { env: { PATH: process.env.PATH ?? "", ...envFor(file) }, timeout: 10_000 });
    expect(`${stdout}${stderr}`).toMatch(/is valid/);
  });

  it("fails when a referenced password variable is missing (nothing has a default password)", async () => {
    const path = join(dir, "hub.conf");
    await writeFile(path, (await readFile(join(DEPLOY_NATS_DIR, "hub.conf"), "utf8")).replaceAll("/etc/nats/tls/", `${join(dir, "tls")}/`));
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", ...hubEnv() };
    delete env.SMTPPROBE_NATS_COORDINATOR_PASSWORD;
    await expect(run("nats-server", ["-t", "-c", path], { env, timeout: 10_000 })).rejects.toMatchObject({ stderr: expect.stringMatching(/SMTPPROBE_NATS_COORDINATOR_PASSWORD/) });
  });
});

describe.skipIf(nats.skip)("the hub's cluster block", () => {
  const servers: ConfigServer[] = [];
  let dir: string;
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("forms a 3-node JetStream cluster that serves the coordinator's report bucket", { timeout: 60_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-nats-cluster-"));
    await writeDeployTls(join(dir, "tls"));
    const text = await readFile(join(DEPLOY_NATS_DIR, "hub.conf"), "utf8");
    const nodes = [];
    for (let i = 0; i < 3; i++) nodes.push({ port: await freePort(), http: await freePort(), leaf: await freePort(), route: await freePort() });
    const routePorts = nodes.map((n) => n.route);
    const started = await Promise.all(
      nodes.map((n, i) =>
        startNatsServerFromConfig({
          name: `hub-${i + 1}`,
          dir,
          env: hubEnv(`hub-${i + 1}`),
          port: n.port,
          httpPort: n.http,
          config: rewriteDeployConfig(text, {
            ports: { 4222: n.port, 8222: n.http, 7422: n.leaf, 6222: n.route },
            tlsDir: join(dir, "tls"),
            storeDir: join(dir, `js-${i + 1}`),
            cluster: { routePorts },
          }),
        }),
      ),
    );
    servers.push(...started);
    // JetStream needs a meta leader, elected once the routes are up: retry until the bucket opens.
    const passwordFile = join(dir, "coordinator.password");
    await writeFile(passwordFile, deployPassword("coordinator"));
    const bus = await connectNatsBus({ servers: started[0]!.url, name: "cluster-test", user: "coordinator", passwordFile });
    try {
      let kv;
      for (let i = 0; i < 100 && !kv; i++) {
        kv = await bus.keyValue("smtpprobe-reports", { ttlMs: 60_000, maxBytes: 1 << 20 });
        if (!kv) await new Promise((r) => setTimeout(r, 300));
      }
      expect(kv, started.map((s) => s.output()).join("\n")).toBeDefined();
      await kv!.put("probe-1", new TextEncoder().encode("report"));
      expect(new TextDecoder().decode(await kv!.get("probe-1"))).toBe("report");
    } finally {
      await bus.drain();
    }
  });
});

function permissionBlock(text: string, name: string): string {
  const start = text.indexOf(`${name}: {`);
  if (start < 0) throw new Error(`no ${name} in hub.conf`);
  const end = text.indexOf("\n}\n", start);
  return text.slice(start, end);
}
