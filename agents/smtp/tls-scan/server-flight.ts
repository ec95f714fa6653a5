// Reads the server's first flight after a hand-built ClientHello: TLS records (RFC 8446 §5.1)
// carrying handshake messages (§4) — ServerHello or HelloRetryRequest, and in TLS 1.2 and below
// Certificate, ServerKeyExchange and ServerHelloDone — or an alert. Incremental: bytes go in as
// they arrive, in chunks of any size, and the same bytes give the same flight however they are
// chunked. Bounded: past `maxBytes` it stops with what it has. Pure.
import { CONTENT_TYPE, EXTENSION, HANDSHAKE_TYPE } from "./client-hello.js";
import { suiteByCode } from "./cipher-catalogue.js";

/** A ServerHello, or a HelloRetryRequest (which is a ServerHello with a fixed random, RFC 8446 §4.1.3). */
export interface ServerHello {
  /** legacy_version (server_version before TLS 1.3). */
  legacyVersion: number;
  /** The version chosen: supported_versions when the server sent it, else legacy_version. */
  version: number;
  cipherSuite: number;
  helloRetry: boolean;
  /** key_share's group (TLS 1.3 ServerHello) or selected_group (HelloRetryRequest). */
  group?: number;
  /** The extension types the server sent, in order. */
  extensions: number[];
}

export type ServerKeyExchange = { kind: "ecdhe"; group: number } | { kind: "dhe"; primeBits: number };

export interface Alert {
  level: number;
  description: number;
}

/** Why the flight could not be read as TLS. */
export type FlightError =
  | { kind: "not_tls"; firstBytes: Buffer }
  | { kind: "malformed"; what: string }
  | { kind: "unexpected"; what: string };

export interface ServerFlight {
  serverHello?: ServerHello;
  /** DER certificates of the Certificate message (TLS 1.2 and below), leaf first. */
  certificates?: Buffer[];
  serverKeyExchange?: ServerKeyExchange;
  /** ServerHelloDone arrived: the flight is whole. */
  helloDone: boolean;
  alert?: Alert;
  error?: FlightError;
  /** The byte bound was reached before the flight ended. */
  cut: boolean;
  /** Bytes received. */
  bytes: number;
}

/** The fixed random of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 §4.1.3). */
export const HELLO_RETRY_RANDOM = Buffer.from("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c", "hex");

const RECORD_HEADER = 5;
/** RFC 8446 §5.1: a record's fragment is at most 2^14 bytes (plus 2048 for older versions' expansion). */
const MAX_FRAGMENT = 16_384 + 2048;
/** Handshake messages kept in memory at most: a certificate chain is the largest. */
const MAX_MESSAGE = 65_536;

export class ServerFlightReader {
  private pending: Buffer = Buffer.alloc(0);
  private handshake: Buffer = Buffer.alloc(0);
  private readonly flight: ServerFlight = { helloDone: false, cut: false, bytes: 0 };
  private finished = false;

  constructor(private readonly limits: { maxBytes: number }) {}

  /** The flight as read so far. */
  get result(): ServerFlight {
    return this.flight;
  }

  /**
   * Whether nothing more is worth reading: an alert, an error, the bound, a TLS 1.3 answer (what
   * follows is encrypted), or ServerHelloDone.
   */
  get done(): boolean {
    return this.finished;
  }

  /** Bytes of a record or handshake message begun and not finished: the answer was cut short. */
  get partial(): boolean {
    return this.pending.length > 0 || this.recordLeft > 0 || this.handshake.length > 0;
  }

  push(chunk: Buffer): void {
    if (this.finished) return;
    const room = this.limits.maxBytes - this.flight.bytes;
    const taken = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.flight.bytes += taken.length;
    this.pending = this.pending.length ? Buffer.concat([this.pending, taken]) : taken;
    this.readRecords();
    if (!this.finished && this.flight.bytes >= this.limits.maxBytes) {
      this.flight.cut = true;
      this.finished = true;
    }
  }

  /** The content type of the record being read, and how many of its bytes are still to come. */
  private recordType = 0;
  private recordLeft = 0;
  private alertBytes: Buffer = Buffer.alloc(0);

  /**
   * Records are read as their bytes come, not once whole: the fragment of a handshake record is
   * plaintext until the handshake ends, so a ServerHello is read as soon as its bytes are in, even
   * when a long chain follows it in the same record.
   */
  private readRecords(): void {
    while (!this.finished && this.pending.length > 0) {
      if (this.recordLeft === 0) {
        // A header: judge its first bytes as soon as they come, so that a non-TLS answer is named at once.
        if (!isContentType(this.pending[0]!) || (this.pending.length > 1 && this.pending[1] !== 3)) {
          return this.fail({ kind: "not_tls", firstBytes: this.pending.subarray(0, 16) });
        }
        if (this.pending.length < RECORD_HEADER) return;
        const length = this.pending.readUInt16BE(3);
        if (length > MAX_FRAGMENT) return this.fail({ kind: "malformed", what: `a record of ${length} bytes (at most ${MAX_FRAGMENT})` });
        this.recordType = this.pending[0]!;
        this.recordLeft = length;
        this.pending = this.pending.subarray(RECORD_HEADER);
        if (length === 0) continue;
      }
      const piece = this.pending.subarray(0, this.recordLeft);
      this.pending = this.pending.subarray(piece.length);
      this.recordLeft -= piece.length;
      this.readFragment(piece);
    }
  }

  private readFragment(piece: Buffer): void {
    switch (this.recordType) {
      case CONTENT_TYPE.alert:
        this.alertBytes = Buffer.concat([this.alertBytes, piece]);
        if (this.alertBytes.length >= 2) {
          this.flight.alert = { level: this.alertBytes[0]!, description: this.alertBytes[1]! };
          this.finished = true;
        } else if (this.recordLeft === 0) {
          this.fail({ kind: "malformed", what: "an alert of fewer than 2 bytes" });
        }
        return;
      case CONTENT_TYPE.handshake:
        if (this.handshake.length + piece.length > MAX_MESSAGE + 4) {
          this.flight.cut = true;
          this.finished = true;
          return;
        }
        this.handshake = Buffer.concat([this.handshake, piece]);
        this.readMessages();
        return;
      case CONTENT_TYPE.changeCipherSpec:
        // RFC 8446 §D.4: a TLS 1.3 server may send one after its HelloRetryRequest; it means nothing here.
        return;
      default:
        return this.fail({ kind: "unexpected", what: "application data before the handshake" });
    }
  }

  private readMessages(): void {
    while (!this.finished && this.handshake.length >= 4) {
      const type = this.handshake[0]!;
      const length = this.handshake.readUIntBE(1, 3);
      if (length > MAX_MESSAGE) {
        this.flight.cut = true;
        this.finished = true;
        return;
      }
      if (this.handshake.length < 4 + length) return;
      const body = this.handshake.subarray(4, 4 + length);
      this.handshake = this.handshake.subarray(4 + length);
      this.readMessage(type, body);
    }
  }

  private readMessage(type: number, body: Buffer): void {
    if (!this.flight.serverHello && type !== HANDSHAKE_TYPE.serverHello) {
      return this.fail({ kind: "unexpected", what: `handshake message ${type} before the ServerHello` });
    }
    try {
      switch (type) {
        case HANDSHAKE_TYPE.serverHello: {
          if (this.flight.serverHello) return this.fail({ kind: "unexpected", what: "a second ServerHello" });
          const hello = parseServerHello(body);
          this.flight.serverHello = hello;
          // TLS 1.3: what follows the ServerHello is encrypted; a HelloRetryRequest waits for our second hello.
          if (hello.helloRetry || hello.version === 0x0304) this.finished = true;
          return;
        }
        case HANDSHAKE_TYPE.certificate:
          this.flight.certificates = parseCertificateList(body);
          return;
        case HANDSHAKE_TYPE.serverKeyExchange: {
          const kind = suiteByCode(this.flight.serverHello!.cipherSuite)?.serverKeyExchange ?? "none";
          const parsed = kind === "none" ? undefined : parseServerKeyExchange(kind, body);
          if (parsed) this.flight.serverKeyExchange = parsed;
          return;
        }
        case HANDSHAKE_TYPE.serverHelloDone:
          this.flight.helloDone = true;
          this.finished = true;
          return;
        default:
          // CertificateStatus, CertificateRequest, ...: part of the flight, nothing the scan needs.
          return;
      }
    } catch (error) {
      if (error instanceof FlightParseError) return this.fail({ kind: "malformed", what: error.message });
      throw error;
    }
  }

  private fail(error: FlightError): void {
    this.flight.error = error;
    this.finished = true;
  }
}

class FlightParseError extends Error {
  override readonly name = "FlightParseError";
}

/** A cursor over a message body that throws FlightParseError when the body is shorter than it says. */
class Cursor {
  private at = 0;
  constructor(
    private readonly data: Buffer,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.data.length - this.at;
  }

  take(n: number): Buffer {
    if (this.at + n > this.data.length) throw new FlightParseError(`${this.what} cut short`);
    const out = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  u8(): number {
    return this.take(1)[0]!;
  }

  u16(): number {
    return this.take(2).readUInt16BE(0);
  }

  u24(): number {
    return this.take(3).readUIntBE(0, 3);
  }
}

/** RFC 8446 §4.1.3 (and RFC 5246 §7.4.1.3: the same layout, extensions optional). */
export function parseServerHello(body: Buffer): ServerHello {
  const c = new Cursor(body, "the ServerHello");
  const legacyVersion = c.u16();
  const random = c.take(32);
  c.take(c.u8()); // session id
  const cipherSuite = c.u16();
  c.u8(); // compression
  const hello: ServerHello = { legacyVersion, version: legacyVersion, cipherSuite, helloRetry: random.equals(HELLO_RETRY_RANDOM), extensions: [] };
  if (c.remaining === 0) return hello;
  const extensions = new Cursor(c.take(c.u16()), "the ServerHello's extensions");
  while (extensions.remaining > 0) {
    const type = extensions.u16();
    const data = new Cursor(extensions.take(extensions.u16()), `extension ${type}`);
    hello.extensions.push(type);
    if (type === EXTENSION.supportedVersions) hello.version = data.u16();
    // key_share: a KeyShareEntry in a ServerHello, the selected group alone in a HelloRetryRequest.
    if (type === EXTENSION.keyShare) hello.group = data.u16();
  }
  return hello;
}

/** RFC 5246 §7.4.2: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>. */
export function parseCertificateList(body: Buffer): Buffer[] {
  const c = new Cursor(body, "the Certificate message");
  const list = new Cursor(c.take(c.u24()), "the certificate list");
  const certificates: Buffer[] = [];
  while (list.remaining > 0) certificates.push(Buffer.from(list.take(list.u24())));
  return certificates;
}

/**
 * The group of an ECDHE ServerKeyExchange (RFC 8422 §5.4: curve_type named_curve, then its id) or
 * the prime's size of a DHE one (RFC 5246 §7.4.3: dh_p first). An explicit curve says nothing usable.
 */
export function parseServerKeyExchange(kind: "ecdhe" | "dhe", body: Buffer): ServerKeyExchange | undefined {
  const c = new Cursor(body, "the ServerKeyExchange");
  if (kind === "ecdhe") {
    return c.u8() === 3 ? { kind: "ecdhe", group: c.u16() } : undefined;
  }
  const prime = c.take(c.u16());
  let first = 0;
  while (first < prime.length && prime[first] === 0) first += 1;
  if (first === prime.length) return { kind: "dhe", primeBits: 0 };
  return { kind: "dhe", primeBits: (prime.length - first) * 8 - Math.clz32(prime[first]!) + 24 };
}

function isContentType(type: number): boolean {
  return type >= CONTENT_TYPE.changeCipherSpec && type <= CONTENT_TYPE.applicationData;
}
