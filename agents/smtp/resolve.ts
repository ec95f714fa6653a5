import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { AddressFamily, type MxRecord } from "../../gen/smtpprobe/v1/handshake.js";

/** A resolution that found nothing to connect to, with the resolver's code kept. */
export class ResolveError extends Error {
  override readonly name = "ResolveError";
  constructor(
    readonly host: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ResolverOptions {
  /** DNS servers as "ip" or "ip:port"; empty means the system's. */
  servers?: readonly string[];
  timeoutMs: number;
}

/**
 * Name resolution for one probe, in the agent's own region (answers may differ by region). The
 * c-ares channel behind it is made at the first query, not with the probe: a probe of an IP literal
 * sends none, and making one (its sockets, its servers) was a measurable share of such a probe's CPU.
 */
export class TargetResolver {
  private channel: Resolver | undefined;
  private cancelled = false;

  constructor(private readonly options: ResolverOptions) {}

  private get resolver(): Resolver {
    if (this.channel) return this.channel;
    // Each try waits timeoutMs; two tries keep a lost UDP packet from failing the probe.
    const resolver = new Resolver({ timeout: Math.max(1, Math.floor(this.options.timeoutMs / 2)), tries: 2 });
    if (this.options.servers && this.options.servers.length > 0) resolver.setServers([...this.options.servers]);
    this.channel = resolver;
    return resolver;
  }

  /** Cancels every pending query, and every later one (a cancelled probe asks nothing more). */
  cancel(): void {
    this.cancelled = true;
    this.channel?.cancel();
  }

  private checkNotCancelled(host: string): void {
    if (this.cancelled) throw new ResolveError(host, "ECANCELLED", `the lookup of ${host} ${DNS_CODES.ECANCELLED}`);
  }

  /**
   * The MX records of a domain in preference order. RFC 5321 §5.1: with no MX records the domain
   * itself is the implicit exchanger; RFC 7505: a single "." exchange means no mail accepted.
   */
  async resolveMx(domain: string): Promise<MxRecord[]> {
    this.checkNotCancelled(domain);
    try {
      const records = await this.resolver.resolveMx(domain);
      const sorted = records
        .map((r) => ({ exchange: r.exchange.replace(/\.$/, ""), preference: r.priority }))
        .sort((a, b) => a.preference - b.preference || a.exchange.localeCompare(b.exchange));
      if (sorted.length === 1 && sorted[0]?.exchange === "") {
        throw new ResolveError(domain, "NULL_MX", `${domain} publishes a null MX (RFC 7505): it accepts no mail`);
      }
      return sorted;
    } catch (error) {
      if (error instanceof ResolveError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? "";
      if (code === "ENODATA") return [{ exchange: domain, preference: 0 }];
      throw resolveError(domain, "MX", error);
    }
  }

  /**
   * The TXT records at a name, each as its strings (RFC 1035 §3.3.14: a record may be split into
   * several strings of up to 255 octets; the reader joins them). No record, or no such name: [].
   */
  async resolveTxt(name: string): Promise<string[][]> {
    try {
      return await this.resolver.resolveTxt(name);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "";
      if (code === "ENODATA" || code === "ENOTFOUND") return [];
      throw resolveError(name, "TXT", error);
    }
  }

  /**
   * Every address of a host, IPv4 and IPv6 interleaved when both are asked for, so that the first
   * few (what max_addresses keeps) cover both families. An IP literal is returned as it is.
   */
  async resolveAddresses(host: string, family: AddressFamily): Promise<string[]> {
    if (isIP(host)) return [host];
    this.checkNotCancelled(host);
    const want4 = family !== AddressFamily.ADDRESS_FAMILY_IPV6;
    const want6 = family !== AddressFamily.ADDRESS_FAMILY_IPV4;
    const [v4, v6] = await Promise.allSettled([
      want4 ? this.resolver.resolve4(host) : Promise.resolve([]),
      want6 ? this.resolver.resolve6(host) : Promise.resolve([]),
    ]);
    const a = v4.status === "fulfilled" ? v4.value : [];
    const aaaa = v6.status === "fulfilled" ? v6.value : [];
    const merged: string[] = [];
    for (let i = 0; i < Math.max(a.length, aaaa.length); i++) {
      if (a[i]) merged.push(a[i]!);
      if (aaaa[i]) merged.push(aaaa[i]!);
    }
    if (merged.length > 0) return merged;
    // Nothing found: report the most telling failure (a real error over "no such record").
    const failures = [v4, v6].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    const telling = failures.find((e) => (e as NodeJS.ErrnoException).code !== "ENODATA") ?? failures[0];
    if (telling) throw resolveError(host, want4 && want6 ? "A/AAAA" : want4 ? "A" : "AAAA", telling);
    throw new ResolveError(host, "ENODATA", `${host} has no ${want4 ? "A" : "AAAA"} record`);
  }
}

const DNS_CODES: Record<string, string> = {
  ENOTFOUND: "does not exist (NXDOMAIN)",
  ENODATA: "has no such record",
  ESERVFAIL: "could not be resolved (SERVFAIL)",
  EREFUSED: "was refused by the DNS server",
  ETIMEOUT: "timed out at the DNS server",
  ECONNREFUSED: "could not reach the DNS server",
  ECANCELLED: "was cancelled",
  EBADNAME: "is not a valid name",
};

function resolveError(host: string, type: string, error: unknown): ResolveError {
  const code = (error as NodeJS.ErrnoException).code ?? "UNKNOWN";
  const what = DNS_CODES[code] ?? `failed (${code})`;
  return new ResolveError(host, code, `${type} lookup of ${host} ${what}`);
}
