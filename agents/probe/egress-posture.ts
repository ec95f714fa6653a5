// The agent's own egress address as the mail servers it probes see it: its reverse DNS and its
// listings in DNS blocklists (RFC 5782), read at start and then every interval through the agent's
// resolver (the same code as an exchanger's address in a domain check). A receiving server that
// finds the agent's address listed may refuse or greylist it, so the agent reports its listing
// with what it says about itself (AgentInfo.egress_posture) before its verdicts are trusted.
import type { AddressPosture } from "../../gen/smtpprobe/v1/address_posture.js";
import type { Logger } from "../../lib/logger.js";
import type { AgentResolver } from "../dns/agent-resolver.js";
import { checkAddress } from "../posture/address-posture.js";

/** DNS questions of one round, at most: the PTR, a few forward confirmations, two per zone. */
const MAX_QUESTIONS = 32;

export interface EgressPostureOptions {
  address: string;
  /** The blocklist zones asked; empty: reverse DNS only (--blocklists off). */
  zones: readonly string[];
  resolver: AgentResolver;
  intervalMs: number;
  /** Deadline of one round. */
  deadlineMs: number;
  logger: Logger;
}

export interface EgressPostureReading {
  posture: AddressPosture;
  checkedAt: Date;
}

export class EgressPostureWatch {
  private latestReading: EgressPostureReading | undefined;
  private running: Promise<EgressPostureReading> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: EgressPostureOptions) {}

  /** The first round now, then one every interval (a round still running is not started again). */
  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  /** The last round's reading; undefined before the first round ends. */
  latest(): EgressPostureReading | undefined {
    return this.latestReading;
  }

  /** One round now (or the one running). Never rejects: a DNS failure is in the posture. */
  check(): Promise<EgressPostureReading> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async round(): Promise<EgressPostureReading> {
    const { address, zones, resolver, deadlineMs, logger } = this.options;
    const session = resolver.session(MAX_QUESTIONS, Date.now() + deadlineMs);
    let posture: AddressPosture;
    try {
      posture = await checkAddress(address, zones, session);
    } catch (error) {
      // Only a bug gets here; the reading says so rather than keeping an old one.
      logger.error({ err: error, address }, "checking the egress address failed");
      posture = { address, reverseDns: undefined, blocklists: zones.map((zone) => ({ zone, listed: false, codes: [], reason: "", error: "internal error of the check" })) };
    }
    const listed = posture.blocklists.filter((b) => b.listed).map((b) => b.zone);
    const before = this.latestReading?.posture.blocklists.filter((b) => b.listed).map((b) => b.zone).join() ?? "";
    if (listed.join() !== before) {
      if (listed.length > 0) logger.warn({ address, zones: listed }, `the egress address ${address} is listed in ${listed.join(", ")}: servers that use these lists may refuse or delay this agent`);
      else logger.info({ address }, `the egress address ${address} is listed in no blocklist asked`);
    }
    this.latestReading = { posture, checkedAt: new Date() };
    return this.latestReading;
  }
}
