import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { rootCertificates, type TLSSocket } from "node:tls";
import type { TlsInfo } from "../../gen/smtpprobe/v1/handshake.js";
import { PEM_CERTIFICATE } from "../../lib/ca-pem.js";
import { describeCertificate, oneLineName } from "./certificate-facts.js";

const DAY_MS = 86_400_000;

/** Everything worth knowing about an established TLS session. Never throws on a bad certificate. */
export function readTlsFacts(
  socket: TLSSocket,
  context: { implicit: boolean; sni: string; checkedName: string; handshakeMs: number; now: Date; extraCa?: string },
): TlsInfo {
  const cipher = socket.getCipher();
  const ephemeral = socket.getEphemeralKeyInfo();
  // getPeerX509Certificate parses each certificate once; getPeerCertificate(true) would build a
  // legacy object per certificate and cost about three times as much (bench:engine).
  const peer = peerOf(socket);
  const chain = withoutLocalAnchor(peerChain(peer), context.extraCa).map(describeCertificate);
  const leaf = chain[0];
  const nameError = leafNameError(peer, context.checkedName);
  return {
    protocol: socket.getProtocol() ?? "",
    cipher: cipher?.standardName ?? cipher?.name ?? "",
    keyExchangeGroup: ephemeral && "name" in ephemeral && ephemeral.name ? String(ephemeral.name) : "",
    implicit: context.implicit,
    sni: context.sni,
    chain,
    // authorizationError holds the chain verdict only: identity is checked apart, below.
    trusted: socket.authorized,
    trustError: socket.authorized ? "" : describeTrustError(socket.authorizationError),
    checkedName: context.checkedName,
    nameMatches: leaf !== undefined && nameError === undefined,
    nameError: leaf === undefined ? "no certificate" : (nameError ?? ""),
    daysToExpiry: leaf?.notAfter ? Math.floor((leaf.notAfter.getTime() - context.now.getTime()) / DAY_MS) : 0,
    handshakeMs: context.handshakeMs,
  };
}

/** The certificates the peer presented, leaf first, as the TLS layer gives them (see peerChain). */
export function presentedChain(socket: TLSSocket): X509Certificate[] {
  return peerChain(peerOf(socket));
}

// The peer certificate read once per socket: a second getPeerX509Certificate() on the same
// socket gives a certificate without its issuer chain.
const peers = new WeakMap<TLSSocket, X509Certificate | undefined>();
function peerOf(socket: TLSSocket): X509Certificate | undefined {
  if (!peers.has(socket)) peers.set(socket, socket.getPeerX509Certificate());
  return peers.get(socket);
}

/** The peer's chain as the TLS layer gives it, leaf first, without the self-loop at the root. */
function peerChain(peer: X509Certificate | undefined): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let cert: X509Certificate | undefined = peer;
  while (cert && !seen.has(cert.fingerprint256) && out.length < 16) {
    seen.add(cert.fingerprint256);
    out.push(cert);
    cert = cert.issuerCertificate;
  }
  return out;
}

/**
 * Node completes the peer chain with the trust anchor it found in the local store; that
 * certificate was not sent by the server, and a chain that depends on the prober's store cannot
 * be compared between regions. A trailing self-signed certificate that is one of our anchors is
 * dropped. (A server that sends that root as well is then shown without it: harmless, RFC 8446
 * §4.4.2 lets servers omit it.)
 */
function withoutLocalAnchor(chain: X509Certificate[], extraCa: string | undefined): X509Certificate[] {
  const last = chain.at(-1);
  if (chain.length < 2 || !last || last.subject !== last.issuer || !last.checkIssued(last)) return chain;
  const fingerprint = last.fingerprint256;
  const isAnchor = systemAnchors().has(fingerprint) || (extraCa !== undefined && extraAnchors(extraCa).has(fingerprint));
  return isAnchor ? chain.slice(0, -1) : chain;
}

let systemAnchorSet: Set<string> | undefined;
function systemAnchors(): Set<string> {
  systemAnchorSet ??= new Set(rootCertificates.flatMap(fingerprintsOf));
  return systemAnchorSet;
}

/**
 * The fingerprints of an extra CA bundle, parsed once per bundle (as the TLS context is, in
 * handshake.ts): parsing it per handshake cost a tenth of a millisecond per CA.
 */
const extraAnchorSets = new Map<string, Set<string>>();
function extraAnchors(pem: string): Set<string> {
  let set = extraAnchorSets.get(pem);
  if (!set) {
    if (extraAnchorSets.size >= 16) extraAnchorSets.clear();
    set = new Set(fingerprintsOf(pem));
    extraAnchorSets.set(pem, set);
  }
  return set;
}

function fingerprintsOf(pem: string): string[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  return blocks.flatMap((block) => {
    try {
      return [new X509Certificate(block).fingerprint256];
    } catch {
      return [];
    }
  });
}

/**
 * Whether the leaf is valid for the name (RFC 6125: DNS SANs, wildcards in the left-most label;
 * the subject CN only when there are no DNS SANs), or for the IP address against IP SANs.
 */
function leafNameError(leaf: X509Certificate | undefined, name: string): string | undefined {
  if (!leaf) return "no certificate";
  if (!name) return "no name to check";
  const bare = name.replace(/\.$/, "");
  const matches = isIP(bare) ? leaf.checkIP(bare) !== undefined : leaf.checkHost(bare, { subject: "default" }) !== undefined;
  if (matches) return undefined;
  const names = leaf.subjectAltName || oneLineName(leaf.subject);
  return `the certificate is for ${names.length > 200 ? `${names.slice(0, 200)}…` : names}, not ${bare}`;
}

function describeTrustError(code: Error | string | undefined): string {
  const text = typeof code === "string" ? code : (code?.message ?? "");
  return TRUST_ERRORS[text] ? `${TRUST_ERRORS[text]} (${text})` : text || "not trusted";
}

const TRUST_ERRORS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "issuer not found among trusted authorities",
  UNABLE_TO_GET_ISSUER_CERT: "issuer certificate not sent",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the issuer of the certificate is unknown: not sent by the server, nor trusted here",
  CERT_HAS_EXPIRED: "certificate has expired",
  CERT_NOT_YET_VALID: "certificate is not yet valid",
  CERT_REVOKED: "certificate revoked",
  CERT_UNTRUSTED: "certificate not trusted",
  CERT_SIGNATURE_FAILURE: "certificate signature does not verify",
  INVALID_CA: "an issuer in the chain is not a CA",
};
