// The deployment files against the code, so that the two cannot drift apart: every SMTP_PROBE_*
// variable that deploy/compose.yaml, the rendered Kubernetes manifests (`kubectl kustomize
// deploy/k8s`) or deploy/Dockerfile set is a setting of the command the container runs, its
// value passes that setting's schema (required settings included), and the coordinator's start-up
// rules accept it. Files it names are mounted; commands the image runs exist in the CLI.
//
// `kubectl kustomize` needs kubectl: Debian bookworm's package kubernetes-client (kubectl 1.20,
// kustomize v2.0.3) is enough, which is why deploy/k8s is written in kustomize v2 fields.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { AGENT_SETTINGS } from "../../../agents/probe/settings.js";
import { runCli, type CliDeps } from "../../../cli/program.js";
import { resolveSettings, type Settings } from "../../../lib/config.js";
import { parseHostPort } from "../../../lib/config-schemas.js";
import { checkAuthSettings, parseTokenFile } from "../../../services/coordinator/caller-auth.js";
import { COORDINATOR_SETTINGS } from "../../../services/coordinator/settings.js";
import { need } from "../../helpers/requirements.js";
import { composeContainers, composeEnvironment, kubernetesContainers, parseDockerfile, type ProbeContainer } from "./deploy-files.js";

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");

/** The long-running commands of the image and the settings each reads. */
const SETTINGS_OF: Record<string, Settings> = { coordinator: COORDINATOR_SETTINGS, agent: AGENT_SETTINGS };
/** The one-host stack's three regions. */
const COMPOSE_REGIONS = ["ap-south", "eu-west", "us-east"];
/** Kubernetes: one overlay per region, each rendered by the top level. */
const K8S_REGIONS = readdirSync(join(ROOT, "deploy/k8s/overlays")).sort();

const dockerfile = parseDockerfile(read("deploy/Dockerfile"));
const defaultCommand = dockerfile.cmd?.[0] ?? "";
const compose = parse(read("deploy/compose.yaml"), { merge: true }) as Record<string, unknown>;
const composeProbes = composeContainers(compose, { image: "smtp-probe:local", defaultCommand });

function envNames(settings: Settings): Set<string> {
  return new Set(Object.values(settings).map((s) => s.env));
}

/** What every container must satisfy, wherever it is described. */
function checkContainer(container: ProbeContainer): void {
  const settings = SETTINGS_OF[container.command];
  expect(settings, `${container.where}: runs "${container.command}", not coordinator or agent`).toBeDefined();
  const known = envNames(settings!);
  const variables = Object.keys(container.env).filter((name) => name.startsWith("SMTP_PROBE_"));
  const unknown = variables.filter((name) => !known.has(name));
  expect(unknown, `${container.where}: variables that \`smtp-probe ${container.command}\` does not read`).toEqual([]);
  // The values as the process will see them: the image's ENV under the container's own.
  const env = { ...dockerfile.env, ...container.env };
  const values = resolveSettings(settings!, {}, env) as Record<string, unknown>;
  if (container.command === "coordinator") {
    const listen = parseHostPort(String(values.listen), { allowZero: true })!;
    expect(() =>
      checkAuthSettings({
        listenHost: listen.host,
        tlsCert: values.tlsCert as string | undefined,
        tlsKey: values.tlsKey as string | undefined,
        clientCa: values.clientCa as string | undefined,
        authTokens: values.authTokens as string | undefined,
      }),
    ).not.toThrow();
    // Without a NATS URL the coordinator runs embedded, with no agent anywhere else.
    expect(values.nats, `${container.where}: SMTP_PROBE_NATS_URL`).toBeDefined();
  }
  // Every file a setting names is given to the container.
  for (const [name, value] of Object.entries(container.env)) {
    if (!name.startsWith("SMTP_PROBE_") || !value.startsWith("/")) continue;
    const mounted = container.mounts.some((mount) => value === mount || value.startsWith(mount.endsWith("/") ? mount : `${mount}/`));
    expect(mounted, `${container.where}: ${name}=${value} is not under any mount (${container.mounts.join(", ")})`).toBe(true);
  }
}

function regionsOf(containers: ProbeContainer[]): string[] {
  return containers.filter((c) => c.command === "agent").map((c) => c.env.SMTP_PROBE_REGION ?? "");
}

describe("deploy/Dockerfile", () => {
  it("runs the compiled CLI: ENTRYPOINT node /app/cli/main.js, built from cli/main.ts", () => {
    expect(dockerfile.entrypoint).toEqual(["node", "/app/cli/main.js"]);
    expect(existsSync(join(ROOT, "cli/main.ts"))).toBe(true);
    const build = JSON.parse(read("tsconfig.build.json")) as { include: string[] };
    for (const dir of ["cli", "lib", "agents", "services", "gen"]) expect(build.include).toContain(dir);
  });

  it("CMD is a command of the CLI, and so are both commands the image runs", async () => {
    expect(dockerfile.cmd).toEqual(["coordinator"]);
    let stdout = "";
    const deps: CliDeps = {
      version: "0.0.0",
      defaultEhloName: "probe.test",
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: () => true },
      env: {},
      readFile: () => Promise.reject(new Error("not read")),
      signal: new AbortController().signal,
    };
    expect(await runCli(["--help"], deps)).toBe(0);
    const commands = [...stdout.matchAll(/^ {2}([a-z-]+) \[options\]/gm)].map((m) => m[1]);
    for (const command of Object.keys(SETTINGS_OF)) expect(commands).toContain(command);
  });

  it("its ENV names settings of both commands (the image runs either)", () => {
    const names = Object.keys(dockerfile.env).filter((name) => name.startsWith("SMTP_PROBE_"));
    for (const settings of Object.values(SETTINGS_OF)) {
      const known = envNames(settings);
      expect(names.filter((name) => !known.has(name))).toEqual([]);
    }
  });

  it("copies only paths that exist and .dockerignore lets through, and the health check script the probes run", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#") && !line.includes("*"));
    for (const source of dockerfile.copySources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(ignored.filter((pattern) => source === pattern || source.startsWith(`${pattern}/`)), `${source} is in .dockerignore`).toEqual([]);
    }
    expect(dockerfile.copySources).toContain("deploy/grpc-health.mjs");
  });

  it("the HEALTHCHECK asks /readyz on the port the image's SMTP_PROBE_METRICS_LISTEN opens", () => {
    const port = parseHostPort(dockerfile.env.SMTP_PROBE_METRICS_LISTEN ?? "")?.port;
    expect(port).toBeDefined();
    expect(dockerfile.healthcheck?.join(" ")).toContain(`http://127.0.0.1:${port}/readyz`);
  });

  it(".dockerignore keeps the compose secrets out of the build context", () => {
    expect(read(".dockerignore").split("\n")).toContain("deploy/compose/secrets");
  });
});

describe("deploy/compose.yaml", () => {
  it("runs a coordinator and one agent in each of three regions", () => {
    expect(composeProbes.filter((c) => c.command === "coordinator")).toHaveLength(1);
    expect(regionsOf(composeProbes).sort()).toEqual(COMPOSE_REGIONS);
  });

  it.each(composeProbes.map((c) => [c.where, c] as const))("%s: every SMTP_PROBE_* variable is a setting of its command, valid, files mounted", (_where, container) => {
    checkContainer(container);
  });

  it("each agent connects as its region's NATS user, a user of compose/nats.conf", () => {
    const conf = read("deploy/compose/nats.conf");
    const users = new Set([...conf.matchAll(/\{\s*user:\s*([\w-]+)/g)].map((m) => m[1]));
    for (const c of composeProbes) {
      const user = c.env.SMTP_PROBE_NATS_USER;
      expect(user, c.where).toBe(c.command === "agent" ? `agent-${c.env.SMTP_PROBE_REGION}` : "coordinator");
      expect(users.has(user!), `${c.where}: ${user} is not a user of compose/nats.conf`).toBe(true);
    }
  });

  it("every service has a health check, and what depends on NATS waits for it to be healthy", () => {
    const services = compose.services as Record<string, Record<string, unknown>>;
    for (const [name, service] of Object.entries(services)) {
      if (service.profiles) continue;
      expect(service.healthcheck, name).toBeDefined();
      if (name !== "nats") expect(service.depends_on, name).toEqual({ nats: { condition: "service_healthy" } });
    }
  });

  it("the image it builds is deploy/Dockerfile from the repository root", () => {
    const coordinator = (compose.services as Record<string, { build?: { context: string; dockerfile: string } }>).coordinator;
    expect(coordinator?.build).toEqual({ context: "..", dockerfile: "deploy/Dockerfile" });
  });

  it("environment in either compose form; a variable without a value is refused", () => {
    expect(composeEnvironment(["A=1", "B=x=y"], "s")).toEqual({ A: "1", B: "x=y" });
    expect(composeEnvironment({ A: 1, B: "two" }, "s")).toEqual({ A: "1", B: "two" });
    expect(() => composeEnvironment(["A"], "s")).toThrow(/s: environment entry "A" has no value/);
    expect(() => composeEnvironment({ A: null }, "s")).toThrow(/s: A has no value/);
  });
});

// make-secrets.sh and nats-server -t: the secrets compose mounts are the files the script makes,
// and they are what the coordinator and the NATS server accept.
const openssl = await need(async () => {
  try {
    await execFileAsync("openssl", ["version"], { timeout: 5_000 });
    return undefined;
  } catch {
    return "openssl is not installed (apt-get install openssl)";
  }
});

describe.skipIf(openssl.skip)("deploy/compose/make-secrets.sh", () => {
  it("makes every secret and env file compose names; the coordinator accepts the certificate and tokens; nats-server accepts its config", async () => {
    const dir = await mkdtemp(join(tmpdir(), "smtp-probe-secrets-"));
    try {
      await execFileAsync("sh", [join(ROOT, "deploy/compose/make-secrets.sh"), dir], { timeout: 30_000 });
      const secrets = compose.secrets as Record<string, { file: string }>;
      const nats = (compose.services as Record<string, { env_file: string[] }>).nats!;
      const files = [...Object.values(secrets).map((s) => s.file), ...nats.env_file];
      for (const file of files) {
        expect(file.startsWith("./compose/secrets/"), file).toBe(true);
        expect(existsSync(join(dir, file.slice("./compose/secrets/".length))), file).toBe(true);
      }
      const tokens = parseTokenFile(await readFile(join(dir, "caller-tokens"), "utf8"), "caller-tokens");
      expect([...tokens.values()]).toEqual(["operator"]);
      expect(tokens.has((await readFile(join(dir, "token"), "utf8")).trim())).toBe(true);
      const certPem = await readFile(join(dir, "coordinator.pem"), "utf8");
      createSecureContext({ cert: certPem, key: await readFile(join(dir, "coordinator.key"), "utf8") });
      const cert = new X509Certificate(certPem);
      expect(cert.checkHost("localhost")).toBe("localhost");
      expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
      expect(cert.verify(new X509Certificate(await readFile(join(dir, "ca.pem"), "utf8")).publicKey)).toBe(true);

      const natsEnv = Object.fromEntries(
        (await readFile(join(dir, "nats.env"), "utf8"))
          .trim()
          .split("\n")
          .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
      );
      // nats-server reads a variable's value as a config value: one starting with a digit is a number.
      for (const [name, value] of Object.entries(natsEnv)) expect(value, name).toMatch(/^[A-Za-z][A-Za-z0-9]{15,}$/);
      let natsServer = true;
      try {
        await execFileAsync("nats-server", ["--version"], { timeout: 5_000 });
      } catch {
        natsServer = false;
      }
      // .ci/run installs nats-server; where it is missing, the rest of this test still counts.
      if (natsServer) {
        const { stdout, stderr } = await execFileAsync("nats-server", ["-c", join(ROOT, "deploy/compose/nats.conf"), "-t"], {
          timeout: 10_000,
          env: { PATH: process.env.PATH, ...natsEnv },
        });
        expect(`${stdout}${stderr}`).toContain("is valid");
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const kubectl = await need(async () => {
  try {
    await execFileAsync("kubectl", ["version", "--client"], { timeout: 10_000 });
    return undefined;
  } catch {
    return "kubectl is not installed (Debian: apt-get install kubernetes-client)";
  }
});

describe.skipIf(kubectl.skip)("deploy/k8s (kubectl kustomize)", () => {
  const render = async (dir: string): Promise<unknown[]> => {
    const { stdout } = await execFileAsync("kubectl", ["kustomize", join(ROOT, dir)], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    const docs = parseAllDocuments(stdout);
    for (const doc of docs) expect(doc.errors, dir).toEqual([]);
    return docs.map((doc) => doc.toJS() as unknown);
  };

  it("the top level renders the coordinator and one agent Deployment per region; every container passes the checks", async () => {
    const docs = await render("deploy/k8s");
    const containers = kubernetesContainers(docs, { imageName: "smtp-probe", defaultCommand });
    expect(containers.filter((c) => c.command === "coordinator")).toHaveLength(1);
    expect(regionsOf(containers).sort()).toEqual(K8S_REGIONS);
    expect(K8S_REGIONS.length).toBeGreaterThanOrEqual(3);
    for (const container of containers) checkContainer(container);
    const kinds = docs.map((d) => `${(d as { kind: string }).kind}/${(d as { metadata: { name: string } }).metadata.name}`);
    expect(kinds).toEqual(expect.arrayContaining(["Service/smtp-probe-coordinator", "PodDisruptionBudget/smtp-probe-coordinator", "Namespace/smtp-probe"]));
  });

  it.each(K8S_REGIONS)("overlays/%s alone: its region, its leaf node, its NATS user and its Secret", async (region) => {
    const docs = await render(`deploy/k8s/overlays/${region}`);
    const [agent, ...others] = kubernetesContainers(docs, { imageName: "smtp-probe", defaultCommand });
    expect(others).toEqual([]);
    checkContainer(agent!);
    expect(agent!.env).toMatchObject({
      SMTP_PROBE_REGION: region,
      SMTP_PROBE_NATS_URL: `nats://nats-leaf-${region}:4222`,
      SMTP_PROBE_NATS_USER: `agent-${region}`,
    });
    const deployment = docs.find((d) => (d as { kind: string }).kind === "Deployment") as {
      spec: { selector: { matchLabels: Record<string, string> }; template: { spec: { volumes: { name: string; secret?: { secretName: string } }[] } } };
    };
    // Each region's Deployment selects its own pods only: several regions may share a namespace.
    expect(deployment.spec.selector.matchLabels["smtp-probe/region"]).toBe(region);
    expect(deployment.spec.template.spec.volumes.find((v) => v.name === "nats")?.secret?.secretName).toBe(`smtp-probe-nats-agent-${region}`);
  });

  it("the probes' commands are in the image; ports match the settings", async () => {
    const docs = await render("deploy/k8s");
    for (const doc of docs as { kind: string; spec?: { template?: { spec?: { containers?: Record<string, unknown>[] } } } }[]) {
      if (doc.kind !== "Deployment") continue;
      for (const container of doc.spec?.template?.spec?.containers ?? []) {
        for (const probe of [container.readinessProbe, container.livenessProbe] as ({ exec?: { command: string[] } } | undefined)[]) {
          const script = probe?.exec?.command.find((word) => word.startsWith("/app/"));
          if (script) expect(dockerfile.copySources).toContain(script.slice("/app/".length));
        }
      }
    }
  });

  it("reads a ConfigMap through envFrom, and refuses what it cannot check", () => {
    const configMap = { kind: "ConfigMap", metadata: { name: "cm" }, data: { SMTP_PROBE_REGION: "eu-west" } };
    const deployment = (container: Record<string, unknown>) => ({
      kind: "Deployment",
      metadata: { name: "d" },
      spec: { template: { spec: { containers: [{ name: "agent", image: "registry.example/smtp-probe:1", args: ["agent"], ...container }] } } },
    });
    expect(kubernetesContainers([configMap, deployment({ envFrom: [{ configMapRef: { name: "cm" } }], env: [{ name: "SMTP_PROBE_GRACE", value: "5s" }] })], { imageName: "smtp-probe", defaultCommand: "coordinator" })).toEqual([
      { where: "Deployment d/agent", command: "agent", env: { SMTP_PROBE_REGION: "eu-west", SMTP_PROBE_GRACE: "5s" }, mounts: [] },
    ]);
    const refused = (container: Record<string, unknown>) => () => kubernetesContainers([configMap, deployment(container)], { imageName: "smtp-probe", defaultCommand: "x" });
    expect(refused({ envFrom: [{ configMapRef: { name: "missing" } }] })).toThrow(/ConfigMap missing/);
    expect(refused({ envFrom: [{ secretRef: { name: "s" } }] })).toThrow(/envFrom a Secret/);
    expect(refused({ env: [{ name: "SMTP_PROBE_REGION", valueFrom: {} }] })).toThrow(/no literal value/);
    expect(refused({ command: ["sh"] })).toThrow(/sets command/);
  });
});

describe("parseDockerfile", () => {
  it("takes the last stage's ENV, ENTRYPOINT, CMD and HEALTHCHECK, every stage's COPY from the context", () => {
    const facts = parseDockerfile(
      [
        "FROM node AS build",
        "ENV A=1",
        "COPY package.json package-lock.json ./",
        "CMD [\"build\"]",
        "FROM node",
        "# a comment",
        "COPY --from=build /src/dist/ ./",
        "COPY --chown=1000 proto proto",
        "ENV B=2 C=3",
        "HEALTHCHECK --interval=5s \\",
        "  CMD [\"node\", \"-e\", \"1\"]",
        'ENTRYPOINT ["node", "main.js"]',
        'CMD ["coordinator"]',
      ].join("\n"),
    );
    expect(facts).toEqual({
      env: { B: "2", C: "3" },
      copySources: ["package.json", "package-lock.json", "proto"],
      healthcheck: ["node", "-e", "1"],
      entrypoint: ["node", "main.js"],
      cmd: ["coordinator"],
    });
  });

  it("refuses the shell form", () => {
    expect(() => parseDockerfile("FROM x\nCMD coordinator")).toThrow(/use the exec form/);
  });
});
