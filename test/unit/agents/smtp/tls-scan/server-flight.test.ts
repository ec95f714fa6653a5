import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseServerKeyExchange, ServerFlightReader, type ServerFlight } from "../../../../../agents/smtp/tls-scan/server-flight.js";
import {
  alertRecord,
  certificateMessage,
  dheKeyExchange,
  ecdheKeyExchange,
  handshakeMessage,
  helloRetryRecord,
  record,
  serverHelloBody,
  serverHelloRecord,
  SERVER_HELLO_DONE,
  u16,
} from "../../../../helpers/tls-records.js";

const LIMITS = { maxBytes: 64 * 1024 };

function read(bytes: Buffer, limits = LIMITS): { flight: ServerFlight; done: boolean; partial: boolean } {
  const reader = new ServerFlightReader(limits);
  reader.push(bytes);
  return { flight: reader.result, done: reader.done, partial: reader.partial };
}

/** A TLS 1.2 flight in one record: ServerHello (ECDHE-RSA-AES128-GCM), Certificate, ServerKeyExchange, ServerHelloDone. */
function tls12Flight(opts: { cipher?: number; keyExchange?: Buffer; certs?: Buffer[] } = {}): Buffer {
  return record(
    22,
    Buffer.concat([
      handshakeMessage(2, serverHelloBody({ version: 0x0303, cipher: opts.cipher ?? 0xc02f, extensions: [[0xff01, Buffer.from([0])]] })),
      certificateMessage(opts.certs ?? [Buffer.from("leaf-der"), Buffer.from("ca-der")]),
      opts.keyExchange ?? ecdheKeyExchange(29),
      SERVER_HELLO_DONE,
    ]),
  );
}

describe("ServerFlightReader", () => {
  it("reads a TLS 1.2 flight: the hello, the chain, the curve, and its end", () => {
    const { flight, done, partial } = read(tls12Flight());
    expect(done).toBe(true);
    expect(partial).toBe(false);
    expect(flight.serverHello).toEqual({ legacyVersion: 0x0303, version: 0x0303, cipherSuite: 0xc02f, helloRetry: false, extensions: [0xff01] });
    expect(flight.certificates?.map((c) => c.toString())).toEqual(["leaf-der", "ca-der"]);
    expect(flight.serverKeyExchange).toEqual({ kind: "ecdhe", group: 29 });
    expect(flight.helloDone).toBe(true);
  });

  it("reads the prime's size of a DHE key exchange", () => {
    expect(read(tls12Flight({ cipher: 0x009e, keyExchange: dheKeyExchange(1024) })).flight.serverKeyExchange).toEqual({ kind: "dhe", primeBits: 1024 });
    expect(parseServerKeyExchange("dhe", dheKeyExchange(2047).subarray(4))).toEqual({ kind: "dhe", primeBits: 2047 });
    // An explicit curve (curve_type 1) names no group.
    expect(parseServerKeyExchange("ecdhe", Buffer.from([1, 0, 0]))).toBeUndefined();
  });

  it("ignores the key exchange of a suite without (EC)DHE, and a PSK one whose hint comes first", () => {
    expect(read(tls12Flight({ cipher: 0x002f, keyExchange: ecdheKeyExchange(29) })).flight.serverKeyExchange).toBeUndefined();
    expect(read(tls12Flight({ cipher: 0xc035, keyExchange: ecdheKeyExchange(29) })).flight.serverKeyExchange).toBeUndefined();
  });

  it("stops at a HelloRetryRequest and reads the group and version it names", () => {
    const { flight, done } = read(Buffer.concat([helloRetryRecord(0x1302, 23), record(20, Buffer.from([1]))]));
    expect(done).toBe(true);
    expect(flight.serverHello).toMatchObject({ version: 0x0304, legacyVersion: 0x0303, cipherSuite: 0x1302, helloRetry: true, group: 23 });
  });

  it("stops at a TLS 1.3 ServerHello: what follows is encrypted", () => {
    const hello = serverHelloRecord({ version: 0x0303, cipher: 0x1301, extensions: [[43, u16(0x0304)], [51, Buffer.concat([u16(29), u16(2), Buffer.from([1, 2])])]] });
    const { flight, done } = read(Buffer.concat([hello, record(23, Buffer.alloc(40))]));
    expect(done).toBe(true);
    expect(flight.serverHello).toMatchObject({ version: 0x0304, helloRetry: false, group: 29 });
    expect(flight.error).toBeUndefined();
  });

  it("takes an alert as the answer", () => {
    const { flight, done } = read(alertRecord(40));
    expect(done).toBe(true);
    expect(flight.alert).toEqual({ level: 2, description: 40 });
    expect(flight.serverHello).toBeUndefined();
  });

  it.each([
    { name: "an SMTP reply", bytes: Buffer.from("554 5.7.0 go away\r\n"), kind: "not_tls" },
    { name: "HTTP", bytes: Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n"), kind: "not_tls" },
    { name: "an SSL 2.0 record header", bytes: Buffer.from([0x80, 0x2e, 0x04, 0x00]), kind: "not_tls" },
    { name: "a record over 2^14 + 2048 bytes", bytes: Buffer.from([22, 3, 3, 0x50, 0x00]), kind: "malformed" },
    { name: "an alert of one byte", bytes: record(21, Buffer.from([2])), kind: "malformed" },
    { name: "application data first", bytes: record(23, Buffer.alloc(8)), kind: "unexpected" },
    { name: "a Certificate before the ServerHello", bytes: record(22, certificateMessage([Buffer.from("x")])), kind: "unexpected" },
    { name: "a ServerHello that ends inside its random", bytes: record(22, handshakeMessage(2, Buffer.from([3, 3, 1, 2]))), kind: "malformed" },
    { name: "extensions that run past their block", bytes: record(22, handshakeMessage(2, Buffer.concat([serverHelloBody({ version: 0x0303, cipher: 0x2f }), u16(6), u16(43), u16(9), Buffer.from([3, 4])]))), kind: "malformed" },
    { name: "two ServerHellos", bytes: Buffer.concat([serverHelloRecord({ version: 0x0303, cipher: 0x2f }), serverHelloRecord({ version: 0x0303, cipher: 0x2f })]), kind: "unexpected" },
  ])("says what is wrong with $name", ({ bytes, kind }) => {
    const { flight, done } = read(bytes);
    expect(done).toBe(true);
    expect(flight.error?.kind).toBe(kind);
  });

  it("keeps the first bytes of what is not TLS, to show them", () => {
    const { flight } = read(Buffer.from("220 hello again\r\n"));
    expect(flight.error).toMatchObject({ kind: "not_tls" });
    expect(flight.error?.kind === "not_tls" && flight.error.firstBytes.toString()).toBe("220 hello again\r");
  });

  it("knows an answer cut short: a record or message begun and not finished", () => {
    const whole = serverHelloRecord({ version: 0x0303, cipher: 0xc02f });
    const cut = read(whole.subarray(0, whole.length - 3));
    expect(cut.done).toBe(false);
    expect(cut.partial).toBe(true);
    expect(cut.flight.serverHello).toBeUndefined();
    // A ServerHello whose record is whole but whose flight goes on is not cut: it waits for more.
    const waiting = read(whole);
    expect(waiting.flight.serverHello).toBeDefined();
    expect(waiting.done).toBe(false);
    expect(waiting.partial).toBe(false);
  });

  it("stops at its byte bound with what it has", () => {
    const flight = tls12Flight({ certs: [Buffer.alloc(3000, 1)] });
    const { flight: read1, done } = read(flight, { maxBytes: 200 });
    expect(done).toBe(true);
    expect(read1.cut).toBe(true);
    expect(read1.bytes).toBe(200);
    expect(read1.serverHello).toBeDefined();
    expect(read1.certificates).toBeUndefined();
  });

  it("reads handshake messages split over records, and records split over chunks, the same way (any chunking)", () => {
    const messages = Buffer.concat([
      handshakeMessage(2, serverHelloBody({ version: 0x0301, cipher: 0x0033 })),
      certificateMessage([Buffer.alloc(700, 2), Buffer.alloc(300, 3)]),
      dheKeyExchange(1536),
      SERVER_HELLO_DONE,
    ]);
    // The same messages in records of 100 bytes (RFC 8446 §5.1 lets a message span records).
    const records: Buffer[] = [];
    for (let at = 0; at < messages.length; at += 100) records.push(record(22, messages.subarray(at, at + 100), 0x0301));
    const bytes = Buffer.concat(records);
    const whole = read(bytes).flight;
    expect(whole.serverKeyExchange).toEqual({ kind: "dhe", primeBits: 1536 });
    expect(whole.certificates?.map((c) => c.length)).toEqual([700, 300]);
    expect(whole.helloDone).toBe(true);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 20 }), (cuts) => {
        const reader = new ServerFlightReader(LIMITS);
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        let from = 0;
        for (const at of [...points, bytes.length]) {
          reader.push(bytes.subarray(from, at));
          from = at;
        }
        expect(reader.result).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it("reads nothing more once done", () => {
    const reader = new ServerFlightReader(LIMITS);
    reader.push(alertRecord(70));
    reader.push(Buffer.from("garbage after the alert"));
    expect(reader.result.error).toBeUndefined();
    expect(reader.result.bytes).toBe(7);
  });
});
