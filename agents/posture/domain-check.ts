// One region's domain check: MX, SPF, DMARC and DKIM read through one lookup session of the
// agent's resolver (cached, counted, bounded), the parts at once, then the findings. Only DNS is
// asked; nothing is sent to the domain's servers. A part that cannot be read is data in its place.
import type { DomainPosture } from "../../gen/smtpprobe/v1/domain.js";
import type { AgentResolver } from "../dns/agent-resolver.js";
import { normalizeDnsName } from "../dns/dns-name.js";
import { checkDkim } from "./dkim-check.js";
import { checkDmarc } from "./dmarc-check.js";
import { checkMx } from "./mx-check.js";
import { checkAddress } from "./address-posture.js";
import { addressFindings, dkimFindings, dmarcFindings, mxFindings, sortFindings, spfFindings } from "./posture-findings.js";
import { checkSpf, evaluateSpf } from "./spf-check.js";

export interface DomainCheckInput {
  domain: string;
  dkimSelectors: readonly string[];
  commonDkimSelectors: boolean;
  region: string;
  /** DNS blocklist zones the exchangers' addresses are looked up in (empty: none). */
  blocklistZones: readonly string[];
}

export interface DomainCheckLimits {
  /** DNS questions one check may ask (cache answers included). */
  maxQuestions?: number;
  /** MX addresses the SPF record is evaluated for. */
  maxSpfAddresses?: number;
  /** MX addresses whose reverse DNS and blocklist listings are read. */
  maxCheckedAddresses?: number;
  /** Date.now() milliseconds after which no question is sent. */
  deadlineAt?: number;
}

export async function checkDomain(input: DomainCheckInput, resolver: AgentResolver, limits: DomainCheckLimits = {}): Promise<DomainPosture> {
  const started = performance.now();
  const domain = normalizeDnsName(input.domain) ?? input.domain;
  const session = resolver.session(limits.maxQuestions ?? 200, limits.deadlineAt);
  // The parts at once; the SPF record's evaluation for the MX addresses waits for the MX.
  const [mx, spfTree, dmarc, dkimKeys] = await Promise.all([
    checkMx(domain, session),
    checkSpf(domain, session),
    checkDmarc(domain, session),
    checkDkim(domain, input.dkimSelectors, input.commonDkimSelectors, session),
  ]);
  const addresses = mx.exchangers.flatMap((e) => e.addresses);
  const checked = new Set(addresses.slice(0, limits.maxCheckedAddresses ?? 16));
  const [evaluations, postures] = await Promise.all([
    Promise.all(addresses.slice(0, limits.maxSpfAddresses ?? 4).map((address) => evaluateSpf(domain, address, session))),
    Promise.all([...checked].map((address) => checkAddress(address, input.blocklistZones, session))),
  ]);
  const byAddress = new Map(postures.map((p) => [p.address, p]));
  for (const exchanger of mx.exchangers) {
    exchanger.addressPostures = exchanger.addresses.flatMap((a) => byAddress.get(a) ?? []);
  }
  const spf = { ...spfTree, evaluations };
  const findings = sortFindings([
    ...mxFindings(domain, mx),
    ...mx.exchangers.flatMap((e) => e.addressPostures.flatMap((p) => addressFindings(e.exchange, p))),
    ...spfFindings(domain, spf),
    ...dmarcFindings(domain, dmarc),
    ...dkimFindings(domain, dkimKeys),
  ]);
  return {
    domain,
    region: input.region,
    spf,
    dmarc,
    dkimKeys,
    mx,
    findings,
    dns: session.stats(),
    totalMs: Math.round((performance.now() - started) * 10) / 10,
  };
}
