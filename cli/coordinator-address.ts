// Where the coordinator is: `--coordinator HOST[:PORT]` or SMTP_PROBE_COORDINATOR. Pure.
import { isIP } from "node:net";
import { parseHostName } from "../lib/host-name.js";
import { formatHostPort } from "../lib/host-port.js";
import { quote } from "./check-args.js";
import { UsageError } from "./usage-error.js";

/** The port `npm start` and `smtp-probe coordinator` listen on by default. */
export const DEFAULT_COORDINATOR_PORT = 50051;

export interface CoordinatorAddress {
  /** The gRPC target: "host:port", "[v6]:port". */
  target: string;
  /** Where the address came from, for messages: "--coordinator" or "SMTP_PROBE_COORDINATOR". */
  source: string;
}

/**
 * "127.0.0.1:50051", "coordinator.internal:50051", "[::1]:50051", or a host alone (port 50051).
 * A bare IPv6 address needs brackets even without a port: "::1:50051" would be ambiguous.
 */
export function parseCoordinatorAddress(text: string, source: string): CoordinatorAddress {
  const value = text.trim();
  const bad = (why: string): UsageError => new UsageError(source, `${quote(text)} ${why}`);
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::([^:]*))?$/.exec(value);
  if (!match) throw bad("is not HOST[:PORT] (an IPv6 address goes in brackets: [::1]:50051)");
  const [, bracketed, plain, portText] = match;
  const host = bracketed ?? plain ?? "";
  if (host === "") throw bad("has no host (write HOST[:PORT], e.g. 127.0.0.1:50051)");
  if (bracketed !== undefined && isIP(bracketed) !== 6) throw bad("has no IPv6 address in its brackets");
  if (bracketed === undefined) {
    const parsed = parseHostName(host);
    if (!parsed.ok) throw bad(`has a bad host: ${parsed.problem}`);
  }
  let port = DEFAULT_COORDINATOR_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw bad(`has a bad port ${quote(portText)} (1-65535)`);
  }
  return { target: formatHostPort(host, port), source };
}

/** The host of a target made by parseCoordinatorAddress: "127.0.0.1", "::1", "coordinator.internal". */
export function hostOfTarget(target: string): string {
  const match = /^(?:\[([^\]]*)\]|([^:]*)):\d+$/.exec(target);
  return match?.[1] ?? match?.[2] ?? target;
}
