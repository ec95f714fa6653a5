// What the TLS scan asks, in which order, and when it stops. Each question is one hello on one
// connection (hello-exchange.ts); the plan only sees the answers, so it is tested against servers
// described as data.
//
// Cipher suites are found the way testssl.sh and sslscan find them: offer a list, note the suite
// the server picks, offer the list without it, until the server refuses — N accepted suites cost
// N + 1 hellos. A server with many suites needs more connections than a polite scan opens (a
// default Postfix accepts about 90 across its versions), so the plan decides what a scan cut short
// by its bound still knows:
// - Versions first, one hello each with every suite valid in it: it is what a sender meets, what
//   the regional comparison compares, and it finds each version's preferred suite.
// - Then per version three lists, each removed from until refused: the INSECURE suites, the WEAK
//   ones, the rest. The first hello of each says whether the version accepts any suite of that
//   grade, so the worst grade of every version is known early; two hellos more per version than
//   one list would cost.
// - All lists (and TLS 1.3's suites, and the groups) advance together, breadth first: a connection
//   goes to the waiting question whose list has had the fewest, so the bound cuts every list a
//   little rather than a few lists entirely. One connection is kept for the cipher order.
// - TLS 1.3 hellos carry an empty key_share: a TLS 1.3 server answers with a HelloRetryRequest
//   naming the suite and the group it would use (RFC 8446 §4.1.4), so groups are found by the same
//   removal, without any key being made. Without TLS 1.3, ECDHE's curve is read from the
//   ServerKeyExchange.
// - The cipher order: one hello offering two accepted suites in the reverse of the order the
//   server chose them.
// - Stops: the connection bound, the scan's deadline (the driver's), a final failure (policy,
//   throttle, cancel), or three connections in a row that failed before a TLS answer (the server
//   has stopped taking them: rate limits, or a middlebox).
import { CipherGrade, CipherOrder, TlsVersion } from "../../../gen/smtpprobe/v1/handshake.js";
import { candidatesFor, gradeOf, suiteByCode, type CipherSuite } from "./cipher-catalogue.js";
import type { HelloAnswer, HelloRequest } from "./hello-answer.js";
import { SCANNED_VERSIONS, TLS12_CURVES, TLS13_GROUPS } from "./tls-registry.js";

export type AskHello = (request: HelloRequest) => Promise<HelloAnswer>;

export interface VersionFacts {
  version: TlsVersion;
  /** "untested": no hello got an answer (a bound, or a stop), like "unknown". */
  support: "accepted" | "refused" | "unknown";
  detail: string;
  /** Accepted suites, in the order found. */
  ciphers: number[];
  /** Every candidate suite was tried (also true for a refused version). */
  complete: boolean;
}

export interface ScanFacts {
  versions: VersionFacts[];
  groups: number[];
  groupsComplete: boolean;
  order: CipherOrder;
  orderVersion: TlsVersion;
  /** The first chain (DER, leaf first) seen per key type the suite authenticated with. */
  chains: Map<string, Buffer[]>;
  /** The smallest DHE prime seen, 0 when none. */
  dhePrimeBits: number;
  connections: number;
  /** Why the scan stopped before the end, when it did. */
  stopped?: string;
}

export interface PlanBounds {
  maxConnections: number;
  /** Hellos in flight at once. */
  concurrency: number;
  /** Connections failing before a TLS answer in a row that stop the scan. */
  maxFailuresInARow: number;
}

export const PLAN_BOUNDS: PlanBounds = { maxConnections: 48, concurrency: 4, maxFailuresInARow: 3 };

/** Which list a hello belongs to: the scheduler shares connections fairly between lists. */
type Chain = string;

const TLS13 = TlsVersion.TLS_VERSION_TLS_1_3;

export async function runScanPlan(ask: AskHello, bounds: PlanBounds = PLAN_BOUNDS): Promise<ScanFacts> {
  const plan = new ScanPlan(ask, bounds);
  return plan.run();
}

class ScanPlan {
  private readonly versions = new Map<TlsVersion, VersionFacts>();
  private readonly groups: number[] = [];
  private groupsComplete = false;
  private order = CipherOrder.CIPHER_ORDER_UNSPECIFIED;
  private orderVersion = TlsVersion.TLS_VERSION_UNSPECIFIED;
  private readonly chains = new Map<string, Buffer[]>();
  private dhePrimeBits = 0;
  private connections = 0;
  private failuresInARow = 0;
  private stopped: string | undefined;

  constructor(
    private readonly askHello: AskHello,
    private readonly bounds: PlanBounds,
  ) {
    for (const version of SCANNED_VERSIONS) {
      this.versions.set(version, { version, support: "unknown", detail: "not tested", ciphers: [], complete: false });
    }
  }

  async run(): Promise<ScanFacts> {
    await Promise.all(SCANNED_VERSIONS.map((v) => this.probeVersion(v)));
    const older = SCANNED_VERSIONS.filter((v) => v !== TLS13 && this.isAccepted(v));
    // One connection stays for the cipher order, which needs two suites of one version first.
    this.reserved = 1;
    const lists = older.flatMap((v) => TIERS.map((tier) => this.enumerate(v, `${v}:${tier}`, this.tier(v, tier))));
    if (this.isAccepted(TLS13)) lists.push(this.enumerate(TLS13, `${TLS13}:all`, candidatesFor(TLS13).map((s) => s.code)));
    lists.push(this.enumerateGroups());
    await Promise.all(lists);
    for (const version of [...older, ...(this.isAccepted(TLS13) ? [TLS13] : [])]) {
      const facts = this.versions.get(version)!;
      if (!this.incomplete.has(version)) facts.complete = true;
    }
    this.reserved = 0;
    await this.testOrder();
    if (this.budgetShort) this.stopped ??= this.boundReached();
    return {
      versions: SCANNED_VERSIONS.map((v) => this.versions.get(v)!),
      groups: this.groups,
      groupsComplete: this.groupsComplete,
      order: this.order,
      orderVersion: this.orderVersion,
      chains: this.chains,
      dhePrimeBits: this.dhePrimeBits,
      connections: this.connections,
      ...(this.stopped ? { stopped: this.stopped } : {}),
    };
  }

  private isAccepted(version: TlsVersion): boolean {
    return this.versions.get(version)?.support === "accepted";
  }

  /** The hello for a version with every suite valid in it. */
  private async probeVersion(version: TlsVersion): Promise<void> {
    const facts = this.versions.get(version)!;
    const answer = await this.ask(`${version}:version`, { version, cipherSuites: candidatesFor(version).map((s) => s.code), groups: groupsFor(version) });
    if (!answer) {
      facts.detail = `not tested: ${this.stopReason()}`;
      return;
    }
    if (answer.kind === "accepted") {
      facts.support = "accepted";
      facts.detail = "";
      facts.ciphers.push(answer.cipherSuite);
    } else if (answer.kind === "refused") {
      facts.support = "refused";
      facts.detail = answer.detail;
      facts.complete = true;
    } else {
      facts.detail = answer.detail;
    }
  }

  /** A version's suites of one tier. */
  private tier(version: TlsVersion, tier: Tier): number[] {
    return candidatesFor(version)
      .filter((s) => tierOf(s, version) === tier)
      .map((s) => s.code);
  }

  /** Removal: offer the list without the suites found, note the one chosen, until refused. */
  private async enumerate(version: TlsVersion, chain: Chain, list: number[]): Promise<void> {
    const facts = this.versions.get(version)!;
    let remaining = list.filter((code) => !facts.ciphers.includes(code));
    while (remaining.length > 0) {
      const answer = await this.ask(chain, { version, cipherSuites: remaining, groups: groupsFor(version) });
      if (!answer) {
        this.markIncomplete(facts, this.stopReason());
        return;
      }
      if (answer.kind === "refused") return;
      if (answer.kind === "unknown") {
        this.markIncomplete(facts, answer.detail);
        return;
      }
      if (!facts.ciphers.includes(answer.cipherSuite)) facts.ciphers.push(answer.cipherSuite);
      remaining = remaining.filter((code) => code !== answer.cipherSuite);
    }
  }

  private readonly incomplete = new Set<TlsVersion>();

  private markIncomplete(facts: VersionFacts, why: string): void {
    this.incomplete.add(facts.version);
    facts.complete = false;
    facts.detail ||= `cipher suites not all tried: ${why}`;
  }

  /** Two accepted suites of one version, offered in the reverse of the order the server chose them. */
  private async testOrder(): Promise<void> {
    const order = [TlsVersion.TLS_VERSION_TLS_1_2, TlsVersion.TLS_VERSION_TLS_1_1, TlsVersion.TLS_VERSION_TLS_1_0, TlsVersion.TLS_VERSION_SSL_3_0, TLS13];
    const facts = order.map((v) => this.versions.get(v)!).find((f) => f.support === "accepted" && f.ciphers.length >= 2);
    if (!facts) return;
    // The version hello offered every suite, strongest first: its choice is the server's favourite or ours.
    const first = facts.ciphers[0]!;
    const other = facts.ciphers[facts.ciphers.length - 1]!;
    const answer = await this.ask("order", { version: facts.version, cipherSuites: [other, first], groups: groupsFor(facts.version) });
    if (answer?.kind !== "accepted") return;
    this.order = answer.cipherSuite === first ? CipherOrder.CIPHER_ORDER_SERVER : CipherOrder.CIPHER_ORDER_CLIENT;
    this.orderVersion = facts.version;
  }

  /**
   * TLS 1.3: removal over the groups, read from HelloRetryRequests. Without TLS 1.3: removal over
   * the elliptic curves with every ECDHE suite of the newest version accepted, read from the
   * ServerKeyExchange. A server that accepts no version has no group to find.
   */
  private async enumerateGroups(): Promise<void> {
    let version: TlsVersion;
    let suites: number[];
    let candidates: readonly number[];
    const older = [...SCANNED_VERSIONS].reverse().find((v) => v !== TLS13 && v !== TlsVersion.TLS_VERSION_SSL_3_0 && this.isAccepted(v));
    if (this.isAccepted(TLS13)) {
      version = TLS13;
      suites = candidatesFor(TLS13).map((s) => s.code);
      candidates = TLS13_GROUPS;
    } else if (older !== undefined) {
      version = older;
      suites = candidatesFor(older)
        .filter((s) => s.serverKeyExchange === "ecdhe")
        .map((s) => s.code);
      candidates = TLS12_CURVES;
    } else {
      this.groupsComplete = [...this.versions.values()].every((f) => f.support !== "unknown");
      return;
    }
    let remaining = candidates.filter((g) => !this.groups.includes(g));
    while (remaining.length > 0) {
      const answer = await this.ask("groups", { version, cipherSuites: suites, groups: remaining });
      if (!answer || answer.kind === "unknown") return;
      if (answer.kind === "refused") break;
      const group = answer.group;
      if (group === undefined || !remaining.includes(group)) return; // no ServerKeyExchange read: cannot go on
      remaining = remaining.filter((g) => g !== group);
    }
    this.groupsComplete = true;
  }

  /**
   * One hello, within the bounds; undefined when the scan has stopped or its budget is spent. A
   * connection goes to the waiting hello whose list has had the fewest (then the first to ask).
   * Every answer's flight adds what it shows: the group, the chain per key type, the DHE prime.
   */
  private async ask(chain: Chain, request: HelloRequest): Promise<HelloAnswer | undefined> {
    if (!(await this.turn(chain))) return undefined;
    try {
      const answer = await this.askHello(request);
      if (answer.kind === "unknown" && answer.connection) {
        this.failuresInARow += 1;
        if (answer.final) this.stopped ??= answer.detail;
        else if (this.failuresInARow >= this.bounds.maxFailuresInARow) {
          this.stopped ??= `${this.failuresInARow} connections in a row failed before a TLS answer (the last: ${answer.detail})`;
        }
      } else {
        this.failuresInARow = 0;
      }
      if (answer.kind === "accepted") this.learn(request, answer);
      return answer;
    } finally {
      this.inFlight -= 1;
      this.grant();
    }
  }

  private inFlight = 0;
  private reserved = 0;
  private sequence = 0;
  private readonly asked = new Map<Chain, number>();
  private readonly waiting: { chain: Chain; order: number; go: (granted: boolean) => void }[] = [];

  /** Waits for a connection of the budget; false when there is none to have. */
  private turn(chain: Chain): Promise<boolean> {
    return new Promise((go) => {
      this.waiting.push({ chain, order: this.sequence++, go });
      this.grant();
    });
  }

  private grant(): void {
    while (this.waiting.length > 0 && this.inFlight < this.bounds.concurrency) {
      const used = (c: Chain): number => this.asked.get(c) ?? 0;
      this.waiting.sort((a, b) => used(a.chain) - used(b.chain) || a.order - b.order);
      const next = this.waiting.shift()!;
      if (this.stopped) {
        next.go(false);
        continue;
      }
      if (this.connections >= this.bounds.maxConnections - this.reserved) {
        if (this.reserved === 0) this.stopped = this.boundReached();
        else this.budgetShort = true;
        next.go(false);
        continue;
      }
      this.connections += 1;
      this.inFlight += 1;
      this.asked.set(next.chain, used(next.chain) + 1);
      next.go(true);
    }
  }

  /** The budget ran out for the lists (the connection kept for the cipher order aside). */
  private budgetShort = false;

  private stopReason(): string {
    return this.stopped ?? (this.budgetShort ? this.boundReached() : "stopped");
  }

  private boundReached(): string {
    return `the scan's bound of ${this.bounds.maxConnections} connections was reached`;
  }

  private learn(request: HelloRequest, answer: Extract<HelloAnswer, { kind: "accepted" }>): void {
    if (answer.group !== undefined && !this.groups.includes(answer.group)) this.groups.push(answer.group);
    const { flight } = answer;
    if (flight.serverKeyExchange?.kind === "dhe" && flight.serverKeyExchange.primeBits > 0) {
      const bits = flight.serverKeyExchange.primeBits;
      this.dhePrimeBits = this.dhePrimeBits === 0 ? bits : Math.min(this.dhePrimeBits, bits);
    }
    const key = suiteByCode(answer.cipherSuite)?.authKey ?? "";
    if (request.version !== TLS13 && key && flight.certificates?.length && !this.chains.has(key)) {
      this.chains.set(key, flight.certificates);
    }
  }
}

/** The lists a version's suites are found in: the worst grades first, each on its own. */
type Tier = "insecure" | "weak" | "rest";
const TIERS: readonly Tier[] = ["insecure", "weak", "rest"];

function tierOf(suite: CipherSuite, version: TlsVersion): Tier {
  const grade = gradeOf(suite, version).grade;
  if (grade === CipherGrade.CIPHER_GRADE_INSECURE) return "insecure";
  return grade === CipherGrade.CIPHER_GRADE_WEAK ? "weak" : "rest";
}

/** supported_groups for a version's hellos: none for SSL 3.0 (no extensions), the curves up to TLS 1.2. */
function groupsFor(version: TlsVersion): readonly number[] {
  if (version === TlsVersion.TLS_VERSION_SSL_3_0) return [];
  return version === TLS13 ? TLS13_GROUPS : TLS12_CURVES;
}
