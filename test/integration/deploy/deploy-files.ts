// Pure readers of the deployment files, for the drift test (manifests.test.ts): which containers
// run which `smtp-probe` command with which environment, from a compose file, from rendered
// Kubernetes manifests, and from the Dockerfile. No I/O here: the test reads the files and runs
// `kubectl kustomize`.

/** One container of smtp-probe, as a deployment file describes it. */
export interface ProbeContainer {
  /** "compose service agent-eu-west", "Deployment smtp-probe-agent-eu-west/agent". */
  where: string;
  /** The CLI command it runs: "coordinator", "agent" (the Dockerfile's CMD when none is given). */
  command: string;
  /** Its environment: literal values, and for a Kubernetes ConfigMap reference the map's data. */
  env: Record<string, string>;
  /** Files given to the container: compose secrets and Kubernetes volume mounts (paths). */
  mounts: string[];
}

export class DeployFileError extends Error {
  override readonly name = "DeployFileError";
}

type Doc = Record<string, unknown>;

const isObject = (value: unknown): value is Doc => typeof value === "object" && value !== null && !Array.isArray(value);
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/**
 * A compose `environment`: a mapping or a list of "KEY=VALUE". A bare "KEY" (take it from the
 * host) has no value here and is refused: the stack must not depend on the caller's shell.
 */
export function composeEnvironment(environment: unknown, where: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (environment === undefined || environment === null) return env;
  if (Array.isArray(environment)) {
    for (const entry of environment) {
      const text = String(entry);
      const eq = text.indexOf("=");
      if (eq < 1) throw new DeployFileError(`${where}: environment entry ${JSON.stringify(text)} has no value`);
      env[text.slice(0, eq)] = text.slice(eq + 1);
    }
    return env;
  }
  if (!isObject(environment)) throw new DeployFileError(`${where}: environment must be a mapping or a list`);
  for (const [key, value] of Object.entries(environment)) {
    if (value === null || value === undefined) throw new DeployFileError(`${where}: ${key} has no value`);
    env[key] = String(value);
  }
  return env;
}

/**
 * The smtp-probe services of a parsed compose file (merge keys resolved): those built from
 * `dockerfile` or using `image`. Compose secrets are mounted at /run/secrets/<target or source>.
 */
export function composeContainers(compose: unknown, options: { image: string; defaultCommand: string }): ProbeContainer[] {
  if (!isObject(compose) || !isObject(compose.services)) throw new DeployFileError("compose file: no services");
  const out: ProbeContainer[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    if (!isObject(service) || service.image !== options.image) continue;
    const where = `compose service ${name}`;
    const command = commandOf(service.command, where) ?? options.defaultCommand;
    const mounts = asArray(service.secrets).map((secret) => {
      if (typeof secret === "string") return `/run/secrets/${secret}`;
      if (isObject(secret) && typeof secret.source === "string") {
        const target = typeof secret.target === "string" ? secret.target : secret.source;
        return target.startsWith("/") ? target : `/run/secrets/${target}`;
      }
      throw new DeployFileError(`${where}: a secret without a source`);
    });
    for (const volume of asArray(service.volumes)) {
      // "host:container[:mode]" short form, or the long form's target.
      if (typeof volume === "string") mounts.push(volume.split(":")[1] ?? volume);
      else if (isObject(volume) && typeof volume.target === "string") mounts.push(volume.target);
    }
    out.push({ where, command, env: composeEnvironment(service.environment, where), mounts });
  }
  return out;
}

function commandOf(command: unknown, where: string): string | undefined {
  if (command === undefined) return undefined;
  if (typeof command === "string") return command.trim().split(/\s+/)[0];
  if (Array.isArray(command) && typeof command[0] === "string") return command[0];
  throw new DeployFileError(`${where}: command must be a string or a list of strings`);
}

/**
 * The smtp-probe containers of rendered Kubernetes manifests (the documents of
 * `kubectl kustomize`): every container of a Deployment whose image names `imageName`. Its
 * environment is its `env` values plus the data of the ConfigMaps it takes through `envFrom`.
 */
export function kubernetesContainers(documents: unknown[], options: { imageName: string; defaultCommand: string }): ProbeContainer[] {
  const configMaps = new Map<string, Record<string, string>>();
  for (const doc of documents) {
    if (isObject(doc) && doc.kind === "ConfigMap" && isObject(doc.metadata)) {
      const data = isObject(doc.data) ? Object.fromEntries(Object.entries(doc.data).map(([k, v]) => [k, String(v)])) : {};
      configMaps.set(String(doc.metadata.name), data);
    }
  }
  const out: ProbeContainer[] = [];
  for (const doc of documents) {
    if (!isObject(doc) || doc.kind !== "Deployment" || !isObject(doc.metadata)) continue;
    const podSpec = isObject(doc.spec) && isObject(doc.spec.template) && isObject(doc.spec.template.spec) ? doc.spec.template.spec : {};
    for (const container of asArray(podSpec.containers)) {
      if (!isObject(container) || typeof container.image !== "string") continue;
      const image = container.image.replace(/[:@].*$/, "");
      if (image !== options.imageName && !image.endsWith(`/${options.imageName}`)) continue;
      const where = `Deployment ${String(doc.metadata.name)}/${String(container.name)}`;
      if (container.command !== undefined) throw new DeployFileError(`${where}: sets command, which replaces the image's ENTRYPOINT; set args`);
      const command = commandOf(container.args, where) ?? options.defaultCommand;
      const env: Record<string, string> = {};
      for (const from of asArray(container.envFrom)) {
        if (!isObject(from)) continue;
        if (isObject(from.configMapRef)) {
          const name = String(from.configMapRef.name);
          const data = configMaps.get(name);
          if (!data) throw new DeployFileError(`${where}: envFrom names ConfigMap ${name}, which the manifests do not hold`);
          Object.assign(env, data);
        } else if (from.secretRef !== undefined) {
          throw new DeployFileError(`${where}: envFrom a Secret: secrets are mounted as files, and their variables could not be checked`);
        }
      }
      for (const entry of asArray(container.env)) {
        if (!isObject(entry) || typeof entry.name !== "string") continue;
        if (typeof entry.value !== "string") throw new DeployFileError(`${where}: ${entry.name} has no literal value (valueFrom cannot be checked)`);
        env[entry.name] = entry.value;
      }
      const mounts = asArray(container.volumeMounts).flatMap((m) => (isObject(m) && typeof m.mountPath === "string" ? [m.mountPath] : []));
      out.push({ where, command, env, mounts });
    }
  }
  return out;
}

/** What the drift test needs from a Dockerfile: per stage, ENTRYPOINT, CMD, ENV and COPY sources. */
export interface DockerfileFacts {
  entrypoint?: string[];
  cmd?: string[];
  /** ENV of the last stage (the image that runs). */
  env: Record<string, string>;
  /** COPY sources from the build context (not --from=stage), every stage. */
  copySources: string[];
  /** HEALTHCHECK CMD of the last stage. */
  healthcheck?: string[];
}

/** Reads a Dockerfile's instructions (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): DockerfileFacts {
  const lines: string[] = [];
  let pending = "";
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*#/.test(raw)) continue;
    const line = pending + raw.trim();
    if (line.endsWith("\\")) {
      pending = `${line.slice(0, -1).trim()} `;
      continue;
    }
    pending = "";
    if (line !== "") lines.push(line);
  }
  const facts: DockerfileFacts = { env: {}, copySources: [] };
  for (const line of lines) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line);
    if (!m) continue;
    const instruction = m[1]!.toUpperCase();
    const rest = m[2]!;
    switch (instruction) {
      case "FROM":
        // A new stage: only the last one's ENV, ENTRYPOINT, CMD and HEALTHCHECK make the image.
        facts.env = {};
        delete facts.entrypoint;
        delete facts.cmd;
        delete facts.healthcheck;
        break;
      case "ENTRYPOINT":
        facts.entrypoint = execForm(rest, "ENTRYPOINT");
        break;
      case "CMD":
        facts.cmd = execForm(rest, "CMD");
        break;
      case "HEALTHCHECK": {
        const cmd = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(rest);
        if (cmd) facts.healthcheck = execForm(cmd[1]!, "HEALTHCHECK");
        break;
      }
      case "ENV":
        for (const pair of rest.split(/\s+/)) {
          const eq = pair.indexOf("=");
          if (eq < 1) throw new DeployFileError(`ENV ${rest}: write KEY=VALUE`);
          facts.env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        break;
      case "COPY": {
        const words = rest.split(/\s+/);
        if (words.some((w) => w.startsWith("--from="))) break;
        const paths = words.filter((w) => !w.startsWith("--"));
        facts.copySources.push(...paths.slice(0, -1));
        break;
      }
    }
  }
  return facts;
}

/** JSON exec form only: a shell form would run through /bin/sh, which swallows signals. */
function execForm(text: string, instruction: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DeployFileError(`${instruction} ${text}: use the exec form ["...", "..."]`);
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new DeployFileError(`${instruction}: a list of strings`);
  return value as string[];
}
