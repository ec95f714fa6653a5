// Checking a DomainCheckRequest, every problem against its field; the request as it will run
// (domain in ASCII, selectors and zones normalised, the default zones or none, the deadline). Pure.
import type { DomainCheckRequest } from "../../gen/smtpprobe/v1/domain.js";
import { DEFAULT_BLOCKLIST_ZONES, MAX_BLOCKLIST_ZONES, normalizeBlocklistZone } from "../../agents/posture/blocklist-answer.js";
import { isValidSelector } from "../../agents/posture/dkim-key.js";
import { REGION_TOKEN } from "../../lib/bus.js";
import { parseHostName } from "../../lib/host-name.js";
import type { FieldViolation } from "./grpc-errors.js";

export const MAX_DOMAIN_SELECTORS = 16;
export const MAX_DOMAIN_REGIONS = 32;
export const DEFAULT_DOMAIN_DEADLINE_MS = 30_000;
export const MIN_DOMAIN_DEADLINE_MS = 100;

export type DomainValidation = { ok: true; value: DomainCheckRequest } | { ok: false; violations: FieldViolation[] };

export function validateDomainRequest(request: DomainCheckRequest, limits: { maxDeadlineMs: number }): DomainValidation {
  const violations: FieldViolation[] = [];
  const bad = (field: string, description: string): void => void violations.push({ field, description });
  const parsed = parseHostName(request.domain.trim());
  let domain = "";
  if (!parsed.ok) bad("domain", parsed.problem);
  else if (parsed.isIpLiteral) bad("domain", "is an IP address; a domain check needs a domain name");
  else domain = parsed.host.replace(/\.$/, "").toLowerCase();
  const selectors = [...new Set(request.dkimSelectors.map((s) => s.trim().toLowerCase()))];
  if (selectors.length > MAX_DOMAIN_SELECTORS) bad("dkim_selectors", `at most ${MAX_DOMAIN_SELECTORS}, got ${selectors.length}`);
  request.dkimSelectors.forEach((s, i) => {
    if (!isValidSelector(s.trim())) bad(`dkim_selectors[${i}]`, "is not a selector (DNS labels: letters, digits, hyphens, underscores)");
  });
  const zones: string[] = [];
  if (request.blocklistZones.length > MAX_BLOCKLIST_ZONES) bad("blocklist_zones", `at most ${MAX_BLOCKLIST_ZONES}, got ${request.blocklistZones.length}`);
  request.blocklistZones.forEach((zone, i) => {
    const normalized = normalizeBlocklistZone(zone);
    if (normalized === undefined) bad(`blocklist_zones[${i}]`, "is not a DNS zone name");
    else if (!zones.includes(normalized)) zones.push(normalized);
  });
  if (request.skipBlocklists && zones.length > 0) bad("blocklist_zones", "given with skip_blocklists");
  if (request.regions.length > MAX_DOMAIN_REGIONS) bad("regions", `at most ${MAX_DOMAIN_REGIONS}, got ${request.regions.length}`);
  request.regions.forEach((region, i) => {
    if (!REGION_TOKEN.test(region)) bad(`regions[${i}]`, "is not a region name (lower-case letters, digits, hyphens)");
  });
  const deadlineMs = request.deadlineMs === 0 ? Math.min(DEFAULT_DOMAIN_DEADLINE_MS, limits.maxDeadlineMs) : request.deadlineMs;
  if (deadlineMs < MIN_DOMAIN_DEADLINE_MS || deadlineMs > limits.maxDeadlineMs) {
    bad("deadline_ms", `must be from ${MIN_DOMAIN_DEADLINE_MS} to ${limits.maxDeadlineMs} ms`);
  }
  if (violations.length > 0) return { ok: false, violations };
  return {
    ok: true,
    value: {
      domain,
      dkimSelectors: selectors,
      commonDkimSelectors: request.commonDkimSelectors,
      regions: [...new Set(request.regions)].sort(),
      blocklistZones: request.skipBlocklists ? [] : zones.length > 0 ? zones : [...DEFAULT_BLOCKLIST_ZONES],
      skipBlocklists: request.skipBlocklists,
      deadlineMs,
    },
  };
}
