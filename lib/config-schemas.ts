import { isIP } from "node:net";
import { z } from "zod";
import { REGION_TOKEN } from "./bus.js";
import { formatHostPort } from "./host-port.js";

/** Schemas shared by the processes' settings (lib/config.ts). */

export const hostPort = z.string().refine((v) => parseHostPort(v) !== undefined, "must be HOST:PORT, e.g. 127.0.0.1:50051 or [::1]:50051");

/** An address to listen on: port 0 lets the system pick one (the process logs the port bound). */
export const listenAddress = z
  .string()
  .refine((v) => parseHostPort(v, { allowZero: true }) !== undefined, "must be HOST:PORT, e.g. 127.0.0.1:50051 or [::1]:50051 (port 0: any free port)");

export function parseHostPort(text: string, options: { allowZero?: boolean } = {}): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (m[1] && isIP(m[1]) !== 6) return undefined;
  if (port < (options.allowZero ? 0 : 1) || port > 65535) return undefined;
  return { host, port };
}

export const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === "" ? undefined : v));

export const natsUrl = optionalText.refine(
  (v) => v === undefined || v.split(",").every((u) => /^(nats|tls|wss?):\/\/[^\s]+$|^[^\s/:]+:\d+$/.test(u.trim())),
  "must be a NATS URL like nats://127.0.0.1:4222 (several separated by commas)",
);

export const region = z.string().regex(REGION_TOKEN, "must be a region name: lower-case letters, digits and hyphens, 1-63 characters");

export function integer(min: number, max: number) {
  return z.coerce.number().int(`must be a whole number`).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
}

export const portList = z.array(z.string()).transform((items, ctx) => {
  const ports = items.flatMap((i) => i.split(",")).map((s) => s.trim()).filter(Boolean);
  const bad = ports.find((p) => !/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535);
  if (bad !== undefined) {
    ctx.addIssue({ code: "custom", message: `"${bad}" is not a port (1-65535)` });
    return z.NEVER;
  }
  return [...new Set(ports.map(Number))];
});

/** "30s", "500ms", "2m" or a number of milliseconds. */
export const duration = z
  .string()
  .transform((v, ctx) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
    if (!m) {
      ctx.addIssue({ code: "custom", message: "must be a duration like 500ms, 30s or 2m" });
      return z.NEVER;
    }
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"] ?? 1;
    return Math.round(Number(m[1]) * unit);
  });

export const logLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
  message: "must be one of fatal, error, warn, info, debug, trace, silent",
});

export const textList = z.array(z.string()).transform((items) => items.flatMap((i) => i.split(",")).map((s) => s.trim()).filter(Boolean));

export const hostPortList = textList.pipe(z.array(hostPort));

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
export const dnsServerList = textList.transform((items, ctx) => {
  const servers: string[] = [];
  for (const item of items) {
    const parsed = parseDnsServerAddress(item);
    if ("problem" in parsed) {
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(item)} ${parsed.problem}` });
      return z.NEVER;
    }
    servers.push(parsed.server);
  }
  return servers;
});
