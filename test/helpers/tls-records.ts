// TLS records written and read by hand for the tests: a server's answers (ServerHello,
// HelloRetryRequest, Certificate, ServerKeyExchange, ServerHelloDone, alerts) and a reader of the
// ClientHellos the scan sends. Written apart from the engine's codec (agents/smtp/tls-scan/), so
// that a test of one is not the other read back.

export function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

export function record(type: number, payload: Buffer, version = 0x0303): Buffer {
  return Buffer.concat([Buffer.from([type]), u16(version), u16(payload.length), payload]);
}

export function handshakeMessage(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), u24(body.length), body]);
}

export const HRR_RANDOM = Buffer.from("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c", "hex");

export interface ServerHelloSpec {
  version: number;
  cipher: number;
  random?: Buffer;
  /** [type, data] pairs; none leaves the extensions block out. */
  extensions?: [number, Buffer][];
}

export function serverHelloBody(spec: ServerHelloSpec): Buffer {
  const parts = [u16(spec.version), spec.random ?? Buffer.alloc(32, 7), Buffer.from([0]), u16(spec.cipher), Buffer.from([0])];
  if (spec.extensions) {
    const block = Buffer.concat(spec.extensions.map(([type, data]) => Buffer.concat([u16(type), u16(data.length), data])));
    parts.push(u16(block.length), block);
  }
  return Buffer.concat(parts);
}

/** A ServerHello (type 2) in its own handshake record. */
export function serverHelloRecord(spec: ServerHelloSpec): Buffer {
  return record(22, handshakeMessage(2, serverHelloBody(spec)));
}

/** A HelloRetryRequest choosing TLS 1.3, a suite and a group (RFC 8446 §4.1.4). */
export function helloRetryRecord(cipher: number, group: number): Buffer {
  return serverHelloRecord({ version: 0x0303, cipher, random: HRR_RANDOM, extensions: [[43, u16(0x0304)], [51, u16(group)]] });
}

export function certificateMessage(ders: Buffer[]): Buffer {
  const list = Buffer.concat(ders.map((der) => Buffer.concat([u24(der.length), der])));
  return handshakeMessage(11, Buffer.concat([u24(list.length), list]));
}

/** ServerKeyExchange for ECDHE: named_curve, the group, a dummy point (and no signature: not read). */
export function ecdheKeyExchange(group: number): Buffer {
  return handshakeMessage(12, Buffer.concat([Buffer.from([3]), u16(group), Buffer.from([1, 4])]));
}

/** ServerKeyExchange for DHE with a prime of `bits` bits (its top bit set), g = 2, Ys = 1. */
export function dheKeyExchange(bits: number): Buffer {
  const prime = Buffer.alloc(Math.ceil(bits / 8), 0xff);
  prime[0] = 0xff >> ((8 - (bits % 8)) % 8);
  return handshakeMessage(12, Buffer.concat([u16(prime.length), prime, u16(1), Buffer.from([2]), u16(1), Buffer.from([1])]));
}

export const SERVER_HELLO_DONE = handshakeMessage(14, Buffer.alloc(0));

export function alertRecord(description: number, level = 2): Buffer {
  return record(21, Buffer.from([level, description]));
}

export interface ParsedClientHello {
  recordVersion: number;
  clientVersion: number;
  sessionId: Buffer;
  cipherSuites: number[];
  compression: number[];
  /** In order; absent when the hello has no extensions block. */
  extensions?: { type: number; data: Buffer }[];
  handshakeLength: number;
}

/** Reads one ClientHello record; throws on anything else. */
export function parseClientHello(bytes: Buffer): ParsedClientHello {
  if (bytes[0] !== 22) throw new Error(`not a handshake record: ${bytes[0]}`);
  const recordVersion = bytes.readUInt16BE(1);
  const length = bytes.readUInt16BE(3);
  const body = bytes.subarray(5, 5 + length);
  if (body.length !== length) throw new Error("record cut short");
  if (body[0] !== 1) throw new Error("not a ClientHello");
  const handshakeLength = body.readUIntBE(1, 3);
  let at = 4;
  const clientVersion = body.readUInt16BE(at);
  at += 2 + 32;
  const sessionLength = body[at]!;
  const sessionId = body.subarray(at + 1, at + 1 + sessionLength);
  at += 1 + sessionLength;
  const suitesLength = body.readUInt16BE(at);
  const cipherSuites: number[] = [];
  for (let i = 0; i < suitesLength; i += 2) cipherSuites.push(body.readUInt16BE(at + 2 + i));
  at += 2 + suitesLength;
  const compression = [...body.subarray(at + 1, at + 1 + body[at]!)];
  at += 1 + body[at]!;
  if (at === 4 + handshakeLength) return { recordVersion, clientVersion, sessionId, cipherSuites, compression, handshakeLength };
  const end = at + 2 + body.readUInt16BE(at);
  at += 2;
  const extensions: { type: number; data: Buffer }[] = [];
  while (at < end) {
    const type = body.readUInt16BE(at);
    const len = body.readUInt16BE(at + 2);
    extensions.push({ type, data: body.subarray(at + 4, at + 4 + len) });
    at += 4 + len;
  }
  if (at !== 4 + handshakeLength) throw new Error("extensions do not end where the hello does");
  return { recordVersion, clientVersion, sessionId, cipherSuites, compression, extensions, handshakeLength };
}

/** A list of two-byte values (a vector with a 2-byte length: supported_groups, signature_algorithms). */
export function readU16List(data: Buffer, lengthBytes = 2): number[] {
  const length = lengthBytes === 2 ? data.readUInt16BE(0) : data[0]!;
  const out: number[] = [];
  for (let i = 0; i < length; i += 2) out.push(data.readUInt16BE(lengthBytes + i));
  return out;
}
