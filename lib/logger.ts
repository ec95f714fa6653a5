import { pino, type Logger } from "pino";

export type { Logger };

/**
 * JSON logs, one line per event, to stderr (stdout belongs to command output). Fields that
 * apply: probeId, region, agentId. `level` comes from the caller's configuration.
 */
export function createLogger(options: { name: string; level: string }): Logger {
  return pino({ name: options.name, level: options.level, base: { name: options.name } }, pino.destination(2));
}

/** A logger that writes nothing: the default in tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
