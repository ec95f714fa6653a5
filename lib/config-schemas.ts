import { isIP } from "node:net";
import { REGION_TOKEN } from "./bus.js";
import { formatHostPort } from "./host-port.js";

/**
 * Schemas of the processes' settings (lib/config.ts): each takes the raw value (the text of a
 * flag, a variable or a default; a list for a repeatable setting; undefined when none is set) and
 * gives the converted value or the problem, as a phrase that follows the setting's name. Our own
 * few lines rather than a validation library: every process checks its settings once, at start,
 * and a library of that size would stay loaded (and in memory) for the process's whole life.
 */
export type Parsed<T> = { value: T } | { problem: string };

export class Schema<T> {
  constructor(private readonly check: (raw: unknown) => Parsed<T>) {}

  parse(raw: unknown): Parsed<T> {
    return this.check(raw);
  }

  /** This schema, then the value's conversion to another (or a problem). */
  to<U>(convert: (value: T) => Parsed<U>): Schema<U> {
    return new Schema((raw) => {
      const parsed = this.check(raw);
      return "problem" in parsed ? parsed : convert(parsed.value);
    });
  }

  /** This schema, then one more condition on the value. */
  refine(holds: (value: T) => boolean, problem: string): Schema<T> {
    return this.to<T>((value) => (holds(value) ? { value } : { problem }));
  }

  /** Unset (undefined) is a value too. */
  optional(): Schema<T | undefined> {
    return new Schema<T | undefined>((raw) => (raw === undefined ? { value: undefined } : this.check(raw)));
  }
}

const text = new Schema<string>((raw) => (typeof raw === "string" ? { value: raw } : { problem: raw === undefined ? "is required" : "must be text" }));

const texts = new Schema<string[]>((raw) =>
  Array.isArray(raw) && raw.every((item) => typeof item === "string") ? { value: raw as string[] } : { problem: "must be a list of text" },
);

export const hostPort = text.refine((v) => parseHostPort(v) !== undefined, "must be HOST:PORT, e.g. 127.0.0.1:50051 or [::1]:50051");

/** An address to listen on: port 0 lets the system pick one (the process logs the port bound). */
export const listenAddress = text.refine(
  (v) => parseHostPort(v, { allowZero: true }) !== undefined,
  "must be HOST:PORT, e.g. 127.0.0.1:50051 or [::1]:50051 (port 0: any free port)",
);

export function parseHostPort(text: string, options: { allowZero?: boolean } = {}): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (m[1] && isIP(m[1]) !== 6) return undefined;
  if (port < (options.allowZero ? 0 : 1) || port > 65535) return undefined;
  return { host, port };
}

export const optionalText = text.optional().to<string | undefined>((v) => ({ value: v === undefined || v === "" ? undefined : v }));

export const natsUrl = optionalText.refine(
  (v) => v === undefined || v.split(",").every((u) => /^(nats|tls|wss?):\/\/[^\s]+$|^[^\s/:]+:\d+$/.test(u.trim())),
  "must be a NATS URL like nats://127.0.0.1:4222 (several separated by commas)",
);

export const region = text.refine((v) => REGION_TOKEN.test(v), "must be a region name: lower-case letters, digits and hyphens, 1-63 characters");

/** A whole number from its text, in [min, max]. */
export function integer(min: number, max: number): Schema<number> {
  return text
    .to<number>((v) => {
      const n = v.trim() === "" ? NaN : Number(v);
      return Number.isInteger(n) ? { value: n } : { problem: "must be a whole number" };
    })
    .refine((n) => n >= min, `must be at least ${min}`)
    .refine((n) => n <= max, `must be at most ${max}`);
}

export const portList = texts.to<number[]>((items) => {
  const ports = items.flatMap((i) => i.split(",")).map((s) => s.trim()).filter(Boolean);
  const bad = ports.find((p) => !/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535);
  if (bad !== undefined) return { problem: `"${bad}" is not a port (1-65535)` };
  return { value: [...new Set(ports.map(Number))] };
});

/** "30s", "500ms", "2m" or a number of milliseconds. */
export const duration = text.to<number>((v) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return { problem: "must be a duration like 500ms, 30s or 2m" };
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"] ?? 1;
  return { value: Math.round(Number(m[1]) * unit) };
});

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const logLevel = text.to<(typeof LOG_LEVELS)[number]>((v) =>
  (LOG_LEVELS as readonly string[]).includes(v) ? { value: v as (typeof LOG_LEVELS)[number] } : { problem: `must be one of ${LOG_LEVELS.join(", ")}` },
);

/** "on" or "off". */
export const onOff = text.to<boolean>((v) => (v === "on" ? { value: true } : v === "off" ? { value: false } : { problem: "must be on or off" }));

export const textList = texts.to<string[]>((items) => ({ value: items.flatMap((i) => i.split(",")).map((s) => s.trim()).filter(Boolean) }));

export const hostPortList = textList.to<string[]>((items) => {
  const bad = items.find((item) => parseHostPort(item) === undefined);
  return bad === undefined ? { value: items } : { problem: `${JSON.stringify(bad)} must be HOST:PORT, e.g. 127.0.0.1:50051 or [::1]:50051` };
});

/**
 * "IP" or "IP:PORT" ("[IPv6]:PORT" for IPv6 with a port), in the form node:dns setServers takes,
 * or the problem as a phrase that follows the value. Checked where it is given (a flag, a
 * variable): node:dns would otherwise throw at the first probe, and at every one after it.
 */
export function parseDnsServerAddress(value: string): { server: string } | { problem: string } {
  let address = value;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(value);
  if (bracketed) {
    address = bracketed[1] ?? "";
    portText = bracketed[2];
    if (isIP(address) !== 6) return { problem: "is not an IPv6 address in brackets" };
  } else if (isIP(value) === 0) {
    const colon = value.lastIndexOf(":");
    // An unbracketed IPv6 address cannot carry a port: its colons would be ambiguous.
    if (colon < 0 || value.indexOf(":") !== colon) return { problem: "is not an IP address (write IP, IP:PORT or [IPv6]:PORT)" };
    address = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (isIP(address) !== 4) return { problem: "is not an IP address (write IP, IP:PORT or [IPv6]:PORT)" };
  }
  if (portText === undefined) return { server: address };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return { problem: `has a bad port ${JSON.stringify(portText)} (1-65535)` };
  return { server: formatHostPort(address, port) };
}

/** --dns-server, repeatable: each value checked, in node:dns's form. */
export const dnsServerList = textList.to<string[]>((items) => {
  const servers: string[] = [];
  for (const item of items) {
    const parsed = parseDnsServerAddress(item);
    if ("problem" in parsed) return { problem: `${JSON.stringify(item)} ${parsed.problem}` };
    servers.push(parsed.server);
  }
  return { value: servers };
});
