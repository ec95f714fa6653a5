// What DNS says about one mail server address: its reverse DNS, forward-confirmed (a PTR name whose
// A or AAAA records include the address), and its listings in DNS blocklists (RFC 5782), each
// question through the check's lookup session. Nothing is sent to the address.
import type { AddressPosture, BlocklistResult, ReverseDns } from "../../gen/smtpprobe/v1/address_posture.js";
import { DnsLookupError, isEmptyAnswer } from "../dns/dns-errors.js";
import type { LookupSession } from "../dns/agent-resolver.js";
import { reverseName } from "../dns/dns-name.js";
import { readBlocklistAnswer } from "./blocklist-answer.js";

/** PTR names checked forward, at most: a hostile zone can answer with many. */
const MAX_PTR_CONFIRMED = 4;

export async function checkAddress(address: string, blocklistZones: readonly string[], session: LookupSession): Promise<AddressPosture> {
  const [reverseDns, blocklists] = await Promise.all([
    checkReverseDns(address, session),
    Promise.all(blocklistZones.map((zone) => checkBlocklist(address, zone, session))),
  ]);
  return { address, reverseDns, blocklists };
}

export async function checkReverseDns(address: string, session: LookupSession): Promise<ReverseDns> {
  const result: ReverseDns = { ptrNames: [], forwardConfirmed: false, confirmedName: "", error: "" };
  const name = reverseName(address);
  if (name === undefined) return { ...result, error: `${address} is not an IP address` };
  try {
    result.ptrNames = (await session.resolve(name, "PTR")).map((n) => n.replace(/\.$/, "").toLowerCase());
  } catch (error) {
    if (!(error instanceof DnsLookupError)) throw error;
    return { ...result, error: isEmptyAnswer(error.code) ? `no PTR record at ${name}` : error.message };
  }
  const family = address.includes(":") ? "AAAA" : "A";
  const canonical = canonicalAddress(address);
  const confirmed = await Promise.all(
    result.ptrNames.slice(0, MAX_PTR_CONFIRMED).map(async (ptr) => {
      try {
        return (await session.resolve(ptr, family)).some((a) => canonicalAddress(a) === canonical) ? ptr : undefined;
      } catch (error) {
        if (!(error instanceof DnsLookupError)) throw error;
        return undefined;
      }
    }),
  );
  const first = confirmed.find((n) => n !== undefined);
  return { ...result, forwardConfirmed: first !== undefined, confirmedName: first ?? "" };
}

export async function checkBlocklist(address: string, zone: string, session: LookupSession): Promise<BlocklistResult> {
  const result: BlocklistResult = { zone, listed: false, codes: [], reason: "", error: "" };
  const name = reverseName(address, zone);
  if (name === undefined) return { ...result, error: `${address} is not an IP address` };
  let codes: string[];
  try {
    codes = await session.resolve(name, "A");
  } catch (error) {
    if (!(error instanceof DnsLookupError)) throw error;
    // NXDOMAIN (or NODATA) is the answer "not listed" (RFC 5782 §2.1).
    return isEmptyAnswer(error.code) ? result : { ...result, error: error.message };
  }
  const verdict = readBlocklistAnswer(codes);
  if (verdict.kind === "refused") return { ...result, codes: verdict.codes, error: verdict.reason };
  if (verdict.kind === "not_listed") return result;
  let reason = "";
  try {
    reason = (await session.resolve(name, "TXT")).map((strings) => strings.join("")).join(" ");
  } catch (error) {
    if (!(error instanceof DnsLookupError)) throw error;
  }
  return { ...result, listed: true, codes: verdict.codes, reason: reason.slice(0, 512) };
}

/** One spelling per address, so that 2001:DB8::1 and 2001:db8:0::1 compare equal. */
function canonicalAddress(address: string): string {
  return reverseName(address) ?? address;
}
