// Extra CA certificates in PEM (--ca-file): checked once at start-up by every process that takes
// them, so that a broken bundle is refused rather than trusting nothing extra in silence
// (createSecureContext accepts text with no certificate in it).
import { X509Certificate } from "node:crypto";

/** One PEM certificate block (global: use with match/matchAll). */
export const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Every certificate in the text must parse: a half-broken bundle is better refused than guessed
 * at. Returns the certificates' PEM, or the problem as a phrase ("holds no PEM certificate ...").
 */
export function checkCaPem(text: string): { pem: string } | { problem: string } {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { problem: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)" };
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return { problem: `certificate ${index + 1} of ${blocks.length} does not parse` };
    }
  }
  return { pem: `${blocks.join("\n")}\n` };
}
