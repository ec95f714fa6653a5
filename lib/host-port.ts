// "host:port" text, one way everywhere: a transcript line, a canary's name, a listen address.
import { isIP } from "node:net";

/** "192.0.2.1:25", "mx.example.com:25", "[2001:db8::1]:25": an IPv6 literal goes in brackets (RFC 3986 §3.2.2). */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
