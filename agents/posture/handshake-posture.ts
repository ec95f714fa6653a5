// With ProbeOptions.posture: what DNS says about each address a probe connected to (or tried),
// its reverse DNS matched against the names the server gave itself — the banner's host name and
// the EHLO greeting's — and its blocklist listings. Added to the handshake's result and findings
// after the handshake; only DNS is asked, through the probe's resolver.
import { Outcome, type HandshakeResult } from "../../gen/smtpprobe/v1/handshake.js";
import type { LookupSession } from "../dns/agent-resolver.js";
import { checkAddress } from "./address-posture.js";
import { addressFindings } from "./posture-findings.js";

export async function addHandshakePosture(h: HandshakeResult, blocklistZones: readonly string[], session: LookupSession): Promise<void> {
  // No address, or one the target policy forbade: nothing to ask about.
  if (h.address === "" || h.outcome === Outcome.OUTCOME_POLICY_DENIED) return;
  const posture = await checkAddress(h.address, blocklistZones, session);
  h.addressPosture = posture;
  h.findings.push(...addressFindings(h.exchange || h.host, posture, serverNames(h)));
}

/**
 * The host names the server gave itself: the first word of the banner (RFC 5321 §4.3.1: "220
 * <domain>") and of the EHLO greetings (§4.1.1.1: "250 <domain>"), when they look like names.
 */
export function serverNames(h: Pick<HandshakeResult, "banner" | "capabilities" | "capabilitiesTls">): string[] {
  const words = [h.banner?.lines[0], h.capabilities?.greeting, h.capabilitiesTls?.greeting].map((line) => (line ?? "").trim().split(/\s+/)[0] ?? "");
  const names = words.map((w) => w.toLowerCase().replace(/\.$/, "")).filter((w) => /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(w));
  return [...new Set(names)];
}
