// The agent's resolver for the checks that only read DNS (the domain check): every question goes
// to the configured servers (--dns-server, else the system's), answers are cached for the agent's
// life within their TTL, a question already on its way is joined rather than sent twice, and each
// check sees its questions through a LookupSession that counts them and bounds their number.
//
// Every answer is cached within its TTL (the smallest of the records it holds), never longer than
// `maxTtlMs`. Node's resolver (c-ares) gives a TTL for A and AAAA only and hides the authority
// section, so questions are asked through secure-query.ts's raw queries, which read every record's
// TTL, and returned in the shapes Node's resolver gives (so mailauth reads them as it reads
// Node's): MX as { exchange, priority }, TXT as each record's character-strings, decoded as Node
// decodes them (Latin-1). Answers that found nothing (NXDOMAIN, NODATA) are cached as long as the
// SOA of their authority section says (RFC 2308 §5), else `negativeTtlMs`; failures (timeout,
// SERVFAIL, refused) are not cached.
import { getServers } from "node:dns";
import type { Answer } from "dns-packet";
import { secureQuery, SecureQueryError } from "./secure-query.js";
import { BAD_NAME, DEADLINE_PASSED, DnsLookupError, LOOKUP_LIMIT, isEmptyAnswer } from "./dns-errors.js";
import { normalizeDnsName } from "./dns-name.js";
import { timerDelay } from "../../lib/timers.js";

export interface DnsAnswers {
  A: string[];
  AAAA: string[];
  MX: { exchange: string; priority: number }[];
  /** Each record as its character-strings (RFC 1035 §3.3.14). */
  TXT: string[][];
  PTR: string[];
}
export type DnsRecordType = keyof DnsAnswers;
export const DNS_RECORD_TYPES: readonly DnsRecordType[] = ["A", "AAAA", "MX", "TXT", "PTR"];

export interface AgentResolverOptions {
  /** "ip" or "ip:port" ("[v6]:port"); empty: the system's. */
  servers?: readonly string[];
  /** Per try; two tries. */
  timeoutMs?: number;
  maxCacheEntries?: number;
  defaultTtlMs?: number;
  maxTtlMs?: number;
  negativeTtlMs?: number;
  /** Records kept of one answer; the rest are dropped (a hostile zone can answer with many). */
  maxRecords?: number;
  now?: () => number;
}

const DEFAULTS = {
  timeoutMs: 2_000,
  maxCacheEntries: 10_000,
  defaultTtlMs: 60_000,
  maxTtlMs: 3_600_000,
  negativeTtlMs: 60_000,
  maxRecords: 64,
};

export type Settled<T = unknown> = { ok: true; value: T } | { ok: false; error: DnsLookupError };
interface CacheEntry {
  expiresAt: number;
  settled: Settled;
}

/** How a question was answered, for the session's counts. */
export type AnswerSource = "sent" | "cache" | "joined";

export class AgentResolver {
  private readonly options: typeof DEFAULTS;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<Settled>>();
  private readonly servers: readonly string[];
  /** Ends the raw queries on their way (cancel()); replaced after each cancel. */
  private rawQueries = new AbortController();
  /** Questions sent to the servers over the resolver's life. */
  sent = 0;

  constructor(options: AgentResolverOptions = {}) {
    this.options = {
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      maxCacheEntries: options.maxCacheEntries ?? DEFAULTS.maxCacheEntries,
      defaultTtlMs: options.defaultTtlMs ?? DEFAULTS.defaultTtlMs,
      maxTtlMs: options.maxTtlMs ?? DEFAULTS.maxTtlMs,
      negativeTtlMs: options.negativeTtlMs ?? DEFAULTS.negativeTtlMs,
      maxRecords: options.maxRecords ?? DEFAULTS.maxRecords,
    };
    this.now = options.now ?? Date.now;
    this.servers = options.servers ?? [];
  }

  /**
   * A session for one check: its own counts and bound, the agent's cache. After `deadlineAt`
   * (Date.now() milliseconds) it sends nothing more: the check ends with what it has read.
   */
  session(maxQuestions = 200, deadlineAt = Number.POSITIVE_INFINITY): LookupSession {
    return new LookupSession(this, maxQuestions, deadlineAt);
  }

  /** Forgets every cached answer. */
  clearCache(): void {
    this.cache.clear();
  }

  /** Cancels the questions on their way (they fail with ECANCELLED). */
  cancel(): void {
    this.rawQueries.abort();
    this.rawQueries = new AbortController();
  }

  /** The answer (or why there is none) and where it came from. */
  async lookup<T extends DnsRecordType>(name: string, type: T): Promise<{ settled: Settled<DnsAnswers[T]>; source: AnswerSource }> {
    const key = `${type} ${name}`;
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > this.now()) return { settled: cached.settled as Settled<DnsAnswers[T]>, source: "cache" };
    if (cached) this.cache.delete(key);
    const joined = this.inFlight.get(key);
    if (joined) return { settled: (await joined) as Settled<DnsAnswers[T]>, source: "joined" };
    const pending = this.ask(key, name, type).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, pending);
    this.sent += 1;
    return { settled: (await pending) as Settled<DnsAnswers[T]>, source: "sent" };
  }

  private async ask(key: string, name: string, type: DnsRecordType): Promise<Settled> {
    try {
      const { value, ttlMs } = await this.query(name, type);
      this.store(key, { ok: true, value }, ttlMs);
      return { ok: true, value };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "EUNKNOWN";
      const failure = new DnsLookupError(code, name, type, { cause: error });
      const negativeTtlMs = (error as { negativeTtlMs?: number }).negativeTtlMs ?? this.options.negativeTtlMs;
      if (isEmptyAnswer(code)) this.store(key, { ok: false, error: failure }, negativeTtlMs);
      return { ok: false, error: failure };
    }
  }

  private async query(name: string, type: DnsRecordType): Promise<{ value: unknown; ttlMs: number }> {
    const { records, ttlMs } = await this.rawQuery(name, type);
    const kept = records.slice(0, this.options.maxRecords);
    switch (type) {
      case "A":
      case "AAAA":
        return { value: kept.map((r) => String(r.data)), ttlMs };
      case "MX":
        return { value: kept.map((r) => ({ exchange: stripDot((r.data as { exchange: string }).exchange), priority: (r.data as { preference: number }).preference })), ttlMs };
      case "TXT":
        return { value: kept.map((r) => txtStrings(r.data)), ttlMs };
      case "PTR":
        return { value: kept.map((r) => stripDot(String(r.data))), ttlMs };
    }
  }

  /**
   * One raw question (two tries over the servers, as Node's resolver makes), its records of the
   * type asked and their smallest TTL; what found nothing or failed throws in Node's codes.
   */
  private async rawQuery(name: string, type: DnsRecordType): Promise<{ records: { data: unknown }[]; ttlMs: number }> {
    const servers = this.servers.length > 0 ? this.servers : getServers();
    let answer;
    try {
      answer = await secureQuery(name, type, { servers: [...servers, ...servers], timeoutMs: this.options.timeoutMs, signal: this.rawQueries.signal });
    } catch (error) {
      const code = error instanceof SecureQueryError ? RAW_ERROR_CODES[error.code] : "EBADRESP";
      throw Object.assign(new Error(`${type} ${name}: ${error instanceof Error ? error.message : String(error)}`), { code });
    }
    // RFC 2308 §5: a negative answer lives as long as the SOA in its authority section says.
    const soa = answer.authorities.find((r) => r.type === "SOA") as { ttl?: number; data?: { minimum?: number } } | undefined;
    const negativeTtlMs = soa ? Math.min(soa.ttl ?? 0, soa.data?.minimum ?? 0) * 1000 : undefined;
    if (answer.rcode !== "NOERROR") throw Object.assign(new Error(`${type} ${name}: ${answer.rcode}`), { code: RCODE_ERROR_CODES[answer.rcode] ?? "EBADRESP", negativeTtlMs });
    // The records of the type asked, whatever their owner (a CNAME's target), as c-ares takes them.
    const records = answer.answers.filter((r): r is Answer & { data: unknown } => r.type === type && "data" in r);
    if (records.length === 0) throw Object.assign(new Error(`${type} ${name}: no records`), { code: "ENODATA", negativeTtlMs });
    const ttls = answer.answers.map((r) => (r as { ttl?: number }).ttl ?? 0);
    return { records, ttlMs: Math.min(...ttls) * 1000 };
  }

  private store(key: string, settled: Settled, ttlMs: number): void {
    const ttl = Math.min(Math.max(0, ttlMs), this.options.maxTtlMs);
    if (ttl === 0) return;
    this.cache.delete(key);
    this.cache.set(key, { expiresAt: this.now() + ttl, settled });
    // Oldest first out: a Map keeps insertion order.
    while (this.cache.size > this.options.maxCacheEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}

/** The codes Node's resolver gives for the same ends. */
const RAW_ERROR_CODES: Record<SecureQueryError["code"], string> = {
  TIMEOUT: "ETIMEOUT",
  NETWORK: "ECONNREFUSED",
  MALFORMED: "EBADRESP",
  CANCELLED: "ECANCELLED",
  NO_SERVER: "ECONNREFUSED",
};
const RCODE_ERROR_CODES: Record<string, string> = {
  NXDOMAIN: "ENOTFOUND",
  SERVFAIL: "ESERVFAIL",
  REFUSED: "EREFUSED",
  NOTIMP: "ENOTIMP",
  FORMERR: "EFORMERR",
};

function stripDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** A TXT record's character-strings, as Node's resolveTxt gives them (each byte one character). */
function txtStrings(data: unknown): string[] {
  const parts = Array.isArray(data) ? data : [data];
  return parts.map((part) => (Buffer.isBuffer(part) ? part.toString("latin1") : String(part)));
}

/** One check's view of the resolver: its counts, and a bound on the questions it may ask. */
export class LookupSession {
  queriesSent = 0;
  cacheAnswers = 0;
  failed = 0;
  limitReached = false;
  private asked = 0;

  constructor(
    private readonly resolver: AgentResolver,
    private readonly maxQuestions: number,
    private readonly deadlineAt = Number.POSITIVE_INFINITY,
  ) {}

  /** The records of a name; throws DnsLookupError (ENOTFOUND, ENODATA, ETIMEOUT, …) when none. */
  async resolve<T extends DnsRecordType>(name: string, type: T): Promise<DnsAnswers[T]> {
    const normalized = normalizeDnsName(name);
    if (normalized === undefined) throw new DnsLookupError(BAD_NAME, name, type);
    if (this.asked >= this.maxQuestions) {
      this.limitReached = true;
      throw new DnsLookupError(LOOKUP_LIMIT, normalized, type);
    }
    if (Date.now() >= this.deadlineAt) {
      this.failed += 1;
      throw new DnsLookupError(DEADLINE_PASSED, normalized, type);
    }
    this.asked += 1;
    const { settled, source } = await this.withinDeadline(this.resolver.lookup(normalized, type), normalized, type);
    if (source === "sent") this.queriesSent += 1;
    else this.cacheAnswers += 1;
    if (settled.ok) return settled.value;
    if (!isEmptyAnswer(settled.error.code)) this.failed += 1;
    throw settled.error;
  }

  /**
   * A question still on its way at the deadline is given up by this check (its answer still goes
   * into the cache for the next): the check ends with what it has by then.
   */
  private withinDeadline<V>(pending: Promise<V>, name: string, type: string): Promise<V> {
    if (!Number.isFinite(this.deadlineAt)) return pending;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DnsLookupError(DEADLINE_PASSED, name, type)), timerDelay(this.deadlineAt - Date.now()));
    });
    return Promise.race([pending, late])
      .catch((error: unknown) => {
        if (error instanceof DnsLookupError && error.code === DEADLINE_PASSED) this.failed += 1;
        throw error;
      })
      .finally(() => clearTimeout(timer));
  }

  /** The same, as the `(name, rrtype) => Promise` function mailauth takes as its resolver. */
  readonly asMailauthResolver = async (name: string, rrtype: string): Promise<unknown> => {
    const type = rrtype.toUpperCase();
    if (!(DNS_RECORD_TYPES as readonly string[]).includes(type)) throw new DnsLookupError("ENOTIMP", name, rrtype);
    return this.resolve(name, type as DnsRecordType);
  };

  stats(): { queriesSent: number; cacheAnswers: number; failed: number; limitReached: boolean } {
    return { queriesSent: this.queriesSent, cacheAnswers: this.cacheAnswers, failed: this.failed, limitReached: this.limitReached };
  }
}
