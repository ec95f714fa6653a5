// DKIM keys of a domain for the selectors asked (and, opt-in, the common ones), looked up at once.
import type { DkimKey } from "../../gen/smtpprobe/v1/domain.js";
import { DnsLookupError, isEmptyAnswer } from "../dns/dns-errors.js";
import type { LookupSession } from "../dns/agent-resolver.js";
import { COMMON_DKIM_SELECTORS, readDkimKey } from "./dkim-key.js";

export async function checkDkim(
  domain: string,
  selectors: readonly string[],
  common: boolean,
  session: LookupSession,
): Promise<DkimKey[]> {
  const asked = new Set(selectors.map((s) => s.toLowerCase()));
  const all = [
    ...[...asked].map((selector) => ({ selector, common: false })),
    ...(common ? COMMON_DKIM_SELECTORS.filter((s) => !asked.has(s)).map((selector) => ({ selector, common: true })) : []),
  ];
  const keys = await Promise.all(all.map(({ selector, common: isCommon }) => lookupKey(domain, selector, isCommon, session)));
  // A common selector that is not there says nothing: only those found are kept.
  return keys.filter((key) => !key.commonSelector || key.found);
}

async function lookupKey(domain: string, selector: string, common: boolean, session: LookupSession): Promise<DkimKey> {
  const recordName = `${selector}._domainkey.${domain}`;
  const key: DkimKey = {
    selector,
    recordName,
    found: false,
    record: "",
    keyType: "",
    keyBits: 0,
    revoked: false,
    testMode: false,
    error: "",
    commonSelector: common,
  };
  let txt: string[][];
  try {
    txt = await session.resolve(recordName, "TXT");
  } catch (error) {
    if (!(error instanceof DnsLookupError)) throw error;
    return { ...key, error: isEmptyAnswer(error.code) ? "no key record" : error.message };
  }
  const records = txt.map((strings) => strings.join(""));
  // A DKIM record may omit v=; a TXT record at the name that has a p= tag is taken as the key.
  const keyRecords = records.filter((r) => /(^|;)\s*p\s*=/i.test(r));
  if (keyRecords.length === 0) return { ...key, found: records.length > 0, record: records[0] ?? "", error: "no key record" };
  if (keyRecords.length > 1) return { ...key, found: true, record: keyRecords.join(" | "), error: `${keyRecords.length} key records at one selector` };
  const facts = readDkimKey(keyRecords[0]!);
  return { ...key, found: true, record: keyRecords[0]!, ...facts };
}
