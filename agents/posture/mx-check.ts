// A domain's MX: the records in preference order, a null MX (RFC 7505), the implicit MX of a
// domain without records (RFC 5321 §5.1), each exchanger's addresses, and the provider.
import type { MxExchanger, MxPosture } from "../../gen/smtpprobe/v1/domain.js";
import { DnsLookupError, isEmptyAnswer } from "../dns/dns-errors.js";
import type { LookupSession } from "../dns/agent-resolver.js";
import { mxProvider, sharedProvider } from "./mx-providers.js";

export interface MxCheckOptions {
  /** Exchangers whose addresses are resolved; the rest are listed without. */
  maxExchangers?: number;
}

export async function checkMx(domain: string, session: LookupSession, options: MxCheckOptions = {}): Promise<MxPosture> {
  const posture: MxPosture = { exchangers: [], nullMx: false, implicit: false, provider: "", error: "" };
  let records: { exchange: string; priority: number }[];
  try {
    records = await session.resolve(domain, "MX");
  } catch (error) {
    if (!(error instanceof DnsLookupError)) throw error;
    if (error.code === "ENODATA") {
      const implicit = await exchanger(domain, 0, session, true);
      return { ...posture, implicit: true, exchangers: [implicit] };
    }
    return { ...posture, error: isEmptyAnswer(error.code) ? `${domain} does not exist (NXDOMAIN)` : error.message };
  }
  const sorted = records
    .map((r) => ({ exchange: r.exchange.replace(/\.$/, "").toLowerCase(), preference: r.priority }))
    .sort((a, b) => a.preference - b.preference || a.exchange.localeCompare(b.exchange));
  if (sorted.length === 1 && sorted[0]!.exchange === "") return { ...posture, nullMx: true };
  const max = options.maxExchangers ?? 10;
  const exchangers = await Promise.all(sorted.map((r, i) => exchanger(r.exchange, r.preference, session, i < max)));
  return { ...posture, exchangers, provider: sharedProvider(exchangers.map((e) => e.provider)) };
}

async function exchanger(exchange: string, preference: number, session: LookupSession, resolve: boolean): Promise<MxExchanger> {
  const entry: MxExchanger = { exchange, preference, addresses: [], provider: mxProvider(exchange), error: "", addressPostures: [] };
  if (exchange === "") return { ...entry, error: "an empty exchanger beside other records (RFC 7505 §3)" };
  if (!resolve) return { ...entry, error: "not resolved: beyond the exchangers the check resolves" };
  const [a, aaaa] = await Promise.allSettled([session.resolve(exchange, "A"), session.resolve(exchange, "AAAA")]);
  const addresses = [...(a.status === "fulfilled" ? a.value : []), ...(aaaa.status === "fulfilled" ? aaaa.value : [])];
  if (addresses.length > 0) return { ...entry, addresses };
  const failure = [a, aaaa].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  const telling = failure.find((e) => e instanceof DnsLookupError && !isEmptyAnswer(e.code)) ?? failure[0];
  if (telling !== undefined && !(telling instanceof DnsLookupError)) throw telling;
  return { ...entry, error: telling && !isEmptyAnswer(telling.code) ? telling.message : "no A or AAAA record" };
}
