import { Capabilities } from "../../gen/smtpprobe/v1/handshake.js";

// RFC 5321 §4.1.1.1: ehlo-line = ehlo-keyword *( SP ehlo-param ); keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
// Tabs are accepted as separators too: the server is untrusted and we describe, not judge, here.
const EHLO_LINE = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ \t]+(.*))?$/;
// Pre-RFC 2554 servers (and Outlook clients that still look for it) use "AUTH=LOGIN PLAIN".
const OLD_AUTH_LINE = /^AUTH=(.*)$/i;
const SIZE_VALUE = /^\d+$/;

type Flag = "pipelining" | "eightBitMime" | "starttls" | "smtputf8" | "chunking" | "dsn" | "enhancedStatusCodes" | "requiretls";

const FLAG_KEYWORDS: Readonly<Record<string, Flag>> = {
  PIPELINING: "pipelining", // RFC 2920
  "8BITMIME": "eightBitMime", // RFC 6152
  STARTTLS: "starttls", // RFC 3207
  SMTPUTF8: "smtputf8", // RFC 6531
  CHUNKING: "chunking", // RFC 3030
  DSN: "dsn", // RFC 3461
  ENHANCEDSTATUSCODES: "enhancedStatusCodes", // RFC 2034
  REQUIRETLS: "requiretls", // RFC 8689
};

/**
 * The capabilities a 250 reply to EHLO advertises. `lines` are the reply's line texts with the
 * "250-"/"250 " prefix removed; the first is the greeting. Unknown or malformed lines are kept
 * verbatim (trimmed) in `other`, so nothing the server said is lost. Never throws.
 */
export function parseEhloReply(lines: readonly string[]): Capabilities {
  const caps = Capabilities.create({ greeting: clean(lines[0]) });
  const mechanisms = new Set<string>();
  for (const raw of lines.slice(1)) {
    const line = clean(raw);
    if (line === "") continue;
    const oldAuth = OLD_AUTH_LINE.exec(line);
    if (oldAuth) {
      addMechanisms(mechanisms, oldAuth[1] ?? "");
      continue;
    }
    const match = EHLO_LINE.exec(line);
    if (!match) {
      caps.other.push(line);
      continue;
    }
    // Keywords are case-insensitive (RFC 5321 §2.4).
    const keyword = (match[1] ?? "").toUpperCase();
    const params = (match[2] ?? "").trim();
    const flag = FLAG_KEYWORDS[keyword];
    const size = keyword === "SIZE" && caps.size === undefined ? parseSize(params) : undefined;
    if (flag) {
      caps[flag] = true;
    } else if (keyword === "AUTH") {
      addMechanisms(mechanisms, params); // RFC 4954 §3
    } else if (size !== undefined) {
      caps.size = size; // RFC 1870: "SIZE" alone means no fixed limit
    } else {
      // Includes a second SIZE line: the first one stands, the repeat is kept for the record.
      caps.other.push(line);
    }
  }
  caps.authMechanisms = [...mechanisms];
  return caps;
}

/** Capabilities after a HELO fallback: HELO advertises nothing (RFC 5321 §4.1.1.1). */
export function heloCapabilities(greeting: string): Capabilities {
  return Capabilities.fromPartial({ greeting: clean(greeting), heloOnly: true });
}

function clean(line: string | undefined): string {
  return typeof line === "string" ? line.trim() : "";
}

function addMechanisms(into: Set<string>, params: string): void {
  for (const name of params.split(/[ \t]+/)) {
    if (name !== "") into.add(name.toUpperCase());
  }
}

/**
 * 0 for a bare SIZE, the limit for a numeric one. A value that is not a number, or too large to
 * hold exactly (RFC 1870 allows 20 digits), is not a limit we can report: undefined, kept in `other`.
 */
function parseSize(params: string): number | undefined {
  if (params === "") return 0;
  if (!SIZE_VALUE.test(params)) return undefined;
  const value = Number(params);
  return Number.isSafeInteger(value) ? value : undefined;
}
