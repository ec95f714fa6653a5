// What a probe resolved but left out because of a limit (TargetResult.not_probed): exchangers past
// max_exchangers, addresses past max_addresses. A limit never hides anything silently: each
// left-out exchanger or address is named with the limit and its value. Pure.
import type { MxRecord, NotProbed } from "../../gen/smtpprobe/v1/handshake.js";

/** The ProbeOptions field of each limit, as NotProbed.limit names it. */
export const LIMIT_FIELDS = { maxExchangers: "max_exchangers", maxAddresses: "max_addresses" } as const;

/**
 * Entries listed in not_probed at most; any further ones are only counted (not_probed_omitted).
 * DNS answers bound the list already (a UDP answer holds a few hundred records at most), but a
 * result travels in one NATS message and a report is read by people: 64 is more than the largest
 * MX set or round-robin seen in practice, and the count says when there were more.
 */
export const MAX_NOT_PROBED_LISTED = 64;

/** The first `limit` items, and the rest. */
export function splitAtLimit<T>(items: readonly T[], limit: number): { kept: T[]; left: T[] } {
  return { kept: items.slice(0, limit), left: items.slice(limit) };
}

/** Exchangers max_exchangers left out: whole exchangers, never resolved, so without an address. */
export function exchangersNotProbed(left: readonly MxRecord[], limit: number): NotProbed[] {
  return left.map((mx) => ({
    host: mx.exchange,
    address: "",
    exchange: mx.exchange,
    mxPreference: mx.preference,
    limit: LIMIT_FIELDS.maxExchangers,
    limitValue: limit,
  }));
}

/** Addresses of one name max_addresses left out. */
export function addressesNotProbed(
  name: { host: string; exchange?: string; mxPreference?: number },
  left: readonly string[],
  limit: number,
): NotProbed[] {
  return left.map((address) => ({
    host: name.host,
    address,
    exchange: name.exchange ?? "",
    mxPreference: name.mxPreference ?? 0,
    limit: LIMIT_FIELDS.maxAddresses,
    limitValue: limit,
  }));
}

/** The entries as a result carries them: the first MAX_NOT_PROBED_LISTED, and how many more. */
export function boundNotProbed(entries: readonly NotProbed[]): { notProbed: NotProbed[]; notProbedOmitted: number } {
  const { kept, left } = splitAtLimit(entries, MAX_NOT_PROBED_LISTED);
  return { notProbed: kept, notProbedOmitted: left.length };
}
