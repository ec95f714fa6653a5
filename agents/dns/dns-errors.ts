// What a DNS question can end in besides an answer, in the codes Node's resolver (c-ares) uses, so
// that libraries written against `dns.promises` (mailauth) read them as they read Node's own.

/** A question that got no records; `code` is Node's (ENOTFOUND, ENODATA, ETIMEOUT, ...) or ours. */
export class DnsLookupError extends Error {
  override readonly name = "DnsLookupError";
  constructor(
    readonly code: string,
    readonly hostname: string,
    readonly rrtype: string,
    options?: { cause?: unknown },
  ) {
    super(`${rrtype} lookup of ${hostname} ${describeDnsCode(code)}`, options);
  }
}

/** The name does not exist, or exists without records of the type: an answer, not a failure. */
export function isEmptyAnswer(code: string): boolean {
  return code === "ENOTFOUND" || code === "ENODATA";
}

/** Our own codes, next to Node's. */
export const LOOKUP_LIMIT = "ELOOKUPLIMIT";
export const BAD_NAME = "EBADNAME";
export const DEADLINE_PASSED = "EDEADLINE";

const DESCRIPTIONS: Record<string, string> = {
  ENOTFOUND: "found no such name (NXDOMAIN)",
  ENODATA: "found no such record",
  ESERVFAIL: "failed at the DNS server (SERVFAIL)",
  EREFUSED: "was refused by the DNS server",
  ETIMEOUT: "timed out",
  ECONNREFUSED: "could not reach the DNS server",
  ECANCELLED: "was cancelled",
  EBADNAME: "was not sent: the name is not a valid DNS name",
  EBADRESP: "got a malformed answer",
  [LOOKUP_LIMIT]: "was not sent: the check's bound on DNS questions was reached",
  [DEADLINE_PASSED]: "was not sent: the check's deadline had passed",
};

export function describeDnsCode(code: string): string {
  return DESCRIPTIONS[code] ?? `failed (${code})`;
}
