import { Command, Option } from "commander";
import { readFile } from "node:fs/promises";
import type { Schema } from "./config-schemas.js";

/**
 * One setting of a process: a flag, an environment variable, a default, and a schema that
 * validates and converts the text. A flag wins over the variable, the variable over the default.
 */
export interface Setting<T> {
  flag: string; // "--listen"
  env: string; // "SMTP_PROBE_LISTEN"
  placeholder?: string; // "HOST:PORT"; none for a boolean switch
  description: string;
  default?: string;
  /** Repeatable flag; the variable holds a comma-separated list. */
  repeatable?: boolean;
  schema: Schema<T>;
}

export type Settings = Record<string, Setting<unknown>>;
export type SettingValues<S extends Settings> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** A setting that is wrong, named the way the person set it: the flag or the variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly setting: string,
    readonly problem: string,
  ) {
    super(`${setting}: ${problem}`);
  }
}

/**
 * A file a setting names that cannot be read (missing, not readable by this user, a folder): exit
 * code 66 rather than 2, because the value may be right and the file not there yet (a secret not
 * mounted). Still a ConfigError, and named so, to everything that catches those.
 */
export class UnreadableFileError extends ConfigError {
  constructor(
    setting: string,
    readonly file: string,
    /** The errno code: ENOENT, EACCES, EISDIR, ... */
    readonly code: string | undefined,
  ) {
    super(setting, `cannot read ${file}: ${code ?? "unknown error"}`);
  }

  /** What to do about it, in a few words. */
  get hint(): string {
    switch (this.code) {
      case "ENOENT":
        return "no such file: check the path, and that the file (or the volume holding it) is there";
      case "EACCES":
      case "EPERM":
        return `permission denied: make it readable by the user this runs as (uid ${process.getuid?.() ?? "?"})`;
      case "EISDIR":
        return "it is a folder: give the file in it";
      default:
        return "check the path and the file";
    }
  }
}

/**
 * Something the process needs from its environment is not available: its listen address is taken
 * or not this machine's, a server it must reach refuses it for good. Exit code 69; `setting` names
 * the flag whose value points at it.
 */
export class UnavailableError extends Error {
  override readonly name = "UnavailableError";
  constructor(
    readonly setting: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${setting}: ${problem}`, options);
  }
}

/** A file a setting names, read at start-up: a file that cannot be read is an UnreadableFileError naming the setting. */
export async function readSettingFile(setting: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new UnreadableFileError(setting, file, (error as NodeJS.ErrnoException).code);
  }
}

/** Adds the settings' flags to a commander command, with the variable and default in the help. */
export function addSettingFlags(command: Command, settings: Settings): Command {
  for (const setting of Object.values(settings)) {
    const spec = setting.placeholder ? `${setting.flag} <${setting.placeholder}>` : setting.flag;
    const extra = [`env ${setting.env}`, setting.default !== undefined && setting.default !== "" ? `default ${setting.default}` : ""].filter(Boolean).join(", ");
    const option = new Option(spec, `${setting.description} (${extra})`);
    if (setting.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    command.addOption(option);
  }
  return command;
}

/**
 * Resolves every setting from the parsed flags, then the environment, then the default, and
 * validates it. Throws ConfigError naming the flag or the variable that is wrong.
 */
export function resolveSettings<S extends Settings>(
  settings: S,
  flags: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): SettingValues<S> {
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings)) {
    const fromFlag = flags[camel(setting.flag)];
    let raw: unknown;
    let source: string;
    if (fromFlag !== undefined) {
      raw = fromFlag;
      source = setting.flag;
    } else if (env[setting.env] !== undefined && env[setting.env] !== "") {
      const text = env[setting.env]!;
      raw = setting.repeatable ? text.split(",").map((s) => s.trim()).filter(Boolean) : text;
      source = setting.env;
    } else {
      raw = setting.repeatable ? (setting.default ? setting.default.split(",") : []) : setting.default;
      // Neither was set: the message names both ways to set it.
      source = `${setting.flag} (or ${setting.env})`;
    }
    const parsed = setting.schema.parse(raw);
    if ("problem" in parsed) throw new ConfigError(source, problemText(setting, raw, parsed.problem));
    out[key] = parsed.value;
  }
  return out as SettingValues<S>;
}

/**
 * What is wrong, for a person: "required: the region this agent serves" when nothing set it (the
 * setting's own description, without its parenthesis), else the schema's phrase and the value.
 */
function problemText(setting: Setting<unknown>, raw: unknown, problem: string): string {
  if (raw === undefined) return `required: ${setting.description.replace(/\s*\([^()]*\)$/, "")}`;
  return `${problem} (got ${JSON.stringify(raw)})`;
}

function camel(flag: string): string {
  return flag.replace(/^--/, "").replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}
