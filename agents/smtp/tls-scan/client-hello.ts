// A ClientHello built by hand (RFC 5246 §7.4.1.2, RFC 8446 §4.1.2), so that the scan can offer
// any cipher suite, group and version — also those the local TLS library has dropped (RC4,
// EXPORT, DES, SSL 3.0) — and read the server's choice without completing a handshake. Pure.
import { randomBytes } from "node:crypto";
import { TlsVersion } from "../../../gen/smtpprobe/v1/handshake.js";
import { SIGNATURE_SCHEMES, WIRE_VERSION } from "./tls-registry.js";

export interface ClientHelloSpec {
  /** The version tested: the hello's client_version, or supported_versions for TLS 1.3. */
  version: TlsVersion;
  /** Cipher suites in order of preference. */
  cipherSuites: readonly number[];
  /** supported_groups (RFC 8446 §4.2.7; elliptic_curves in RFC 8422): empty leaves the extension out. */
  groups: readonly number[];
  /** server_name (RFC 6066 §3), a DNS name; empty sends none. */
  serverName?: string;
  /** 32 bytes; random when not given (tests pass their own). */
  random?: Buffer;
}

/** Record content types (RFC 8446 §5.1). */
export const CONTENT_TYPE = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;
/** Handshake message types (RFC 8446 §4, RFC 5246 §7.4). */
export const HANDSHAKE_TYPE = {
  clientHello: 1,
  serverHello: 2,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateStatus: 22,
} as const;
/** Extension types (RFC 8446 §4.2 and the RFCs it cites). */
export const EXTENSION = {
  serverName: 0,
  supportedGroups: 10,
  ecPointFormats: 11,
  signatureAlgorithms: 13,
  padding: 21,
  extendedMasterSecret: 23,
  supportedVersions: 43,
  keyShare: 51,
  renegotiationInfo: 0xff01,
} as const;
/** Signalled by listing it as a suite (RFC 5746 §3.3); a server never picks it. */
export const EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

const MAX_SUITES = 32_767; // the cipher_suites vector is at most 2^16-2 bytes

/**
 * The ClientHello in one handshake record. SSL 3.0 gets no extensions (RFC 6101 has none); TLS
 * 1.0 to 1.2 get server_name, supported_groups, ec_point_formats, extended_master_secret and, for
 * 1.2, signature_algorithms; TLS 1.3 adds supported_versions (1.3 only) and an empty key_share,
 * so that a TLS 1.3 server answers with a HelloRetryRequest naming the group it wants (RFC 8446
 * §4.1.4) — no key is made and no secret agreed.
 */
export function encodeClientHello(spec: ClientHelloSpec): Buffer {
  if (spec.cipherSuites.length === 0) throw new RangeError("a ClientHello needs at least one cipher suite");
  if (spec.cipherSuites.length > MAX_SUITES) throw new RangeError(`at most ${MAX_SUITES} cipher suites`);
  const random = spec.random ?? randomBytes(32);
  if (random.length !== 32) throw new RangeError("the random is 32 bytes");
  const tls13 = spec.version === TlsVersion.TLS_VERSION_TLS_1_3;
  const ssl3 = spec.version === TlsVersion.TLS_VERSION_SSL_3_0;
  const wire = WIRE_VERSION[spec.version];
  if (wire === undefined) throw new RangeError(`no wire version for ${spec.version}`);
  // RFC 8446 §4.1.2: a TLS 1.3 hello says 1.2 here, and its real offer in supported_versions.
  const clientVersion = tls13 ? 0x0303 : wire;
  const suites = tls13 ? [...spec.cipherSuites] : [...spec.cipherSuites, EMPTY_RENEGOTIATION_INFO_SCSV];

  const extensions = ssl3 ? [] : helloExtensions(spec, tls13);
  const body = [u16(clientVersion), random, u8(0) /* session_id */, vector16(u16s(suites)), vector8(Buffer.from([0])) /* null compression */];
  let extensionBlock = Buffer.concat(extensions);
  // Some servers and middleboxes hang on a hello of 256 to 511 bytes: RFC 7685 pads it to 512.
  const unpadded = 4 + sum(body) + (extensions.length ? 2 + extensionBlock.length : 0);
  if (!ssl3 && unpadded >= 256 && unpadded < 512) {
    const fill = Math.max(0, 512 - unpadded - 4);
    extensionBlock = Buffer.concat([extensionBlock, extension(EXTENSION.padding, Buffer.alloc(fill))]);
  }
  if (!ssl3) body.push(vector16(extensionBlock));
  const message = Buffer.concat([u8(1), u24(sum(body)), ...body]);
  // The record layer says TLS 1.0 for every TLS hello (RFC 8446 §5.1 allows 0x0301 for the first).
  return Buffer.concat([u8(22), u16(ssl3 ? 0x0300 : 0x0301), u16(message.length), message]);
}

function helloExtensions(spec: ClientHelloSpec, tls13: boolean): Buffer[] {
  const out: Buffer[] = [];
  if (spec.serverName) {
    const name = Buffer.from(spec.serverName, "ascii");
    out.push(extension(EXTENSION.serverName, vector16(Buffer.concat([u8(0), vector16(name)]))));
  }
  if (spec.groups.length > 0) out.push(extension(EXTENSION.supportedGroups, vector16(u16s(spec.groups))));
  if (!tls13) out.push(extension(EXTENSION.ecPointFormats, vector8(Buffer.from([0])))); // uncompressed
  if (spec.version === TlsVersion.TLS_VERSION_TLS_1_2 || tls13) {
    out.push(extension(EXTENSION.signatureAlgorithms, vector16(u16s(SIGNATURE_SCHEMES))));
  }
  if (!tls13) out.push(extension(EXTENSION.extendedMasterSecret, Buffer.alloc(0)));
  if (tls13) {
    out.push(extension(EXTENSION.supportedVersions, vector8(u16(0x0304))));
    out.push(extension(EXTENSION.keyShare, vector16(Buffer.alloc(0))));
  }
  return out;
}

function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

function u16s(values: readonly number[]): Buffer {
  const out = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => out.writeUInt16BE(v, i * 2));
  return out;
}

function vector8(data: Buffer): Buffer {
  return Buffer.concat([u8(data.length), data]);
}

function vector16(data: Buffer): Buffer {
  return Buffer.concat([u16(data.length), data]);
}

function sum(parts: readonly Buffer[]): number {
  return parts.reduce((total, part) => total + part.length, 0);
}
