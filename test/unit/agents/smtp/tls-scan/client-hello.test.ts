import { describe, expect, it } from "vitest";
import { TlsVersion } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { EMPTY_RENEGOTIATION_INFO_SCSV, encodeClientHello } from "../../../../../agents/smtp/tls-scan/client-hello.js";
import { SIGNATURE_SCHEMES } from "../../../../../agents/smtp/tls-scan/tls-registry.js";
import { parseClientHello, readU16List } from "../../../../helpers/tls-records.js";

const random = Buffer.alloc(32, 0xab);
const ext = (hello: ReturnType<typeof parseClientHello>, type: number): Buffer | undefined => hello.extensions?.find((e) => e.type === type)?.data;

describe("encodeClientHello", () => {
  it.each([
    { version: TlsVersion.TLS_VERSION_SSL_3_0, record: 0x0300, client: 0x0300 },
    { version: TlsVersion.TLS_VERSION_TLS_1_0, record: 0x0301, client: 0x0301 },
    { version: TlsVersion.TLS_VERSION_TLS_1_1, record: 0x0301, client: 0x0302 },
    { version: TlsVersion.TLS_VERSION_TLS_1_2, record: 0x0301, client: 0x0303 },
    // RFC 8446 §4.1.2: legacy_version 1.2, the real offer in supported_versions.
    { version: TlsVersion.TLS_VERSION_TLS_1_3, record: 0x0301, client: 0x0303 },
  ])("writes the versions of $version in the record and the hello", ({ version, record, client }) => {
    const hello = parseClientHello(encodeClientHello({ version, cipherSuites: [0x002f], groups: [29], random }));
    expect(hello.recordVersion).toBe(record);
    expect(hello.clientVersion).toBe(client);
    expect(hello.compression).toEqual([0]);
    expect(hello.sessionId.length).toBe(0);
  });

  it("offers the suites in order, with the renegotiation SCSV after them below TLS 1.3 (RFC 5746 §3.3)", () => {
    const suites = [0xc02f, 0x0005, 0x000a];
    expect(parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_2, cipherSuites: suites, groups: [], random })).cipherSuites).toEqual([
      ...suites,
      EMPTY_RENEGOTIATION_INFO_SCSV,
    ]);
    expect(parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_3, cipherSuites: [0x1301], groups: [29], random })).cipherSuites).toEqual([0x1301]);
  });

  it("sends no extensions at all in an SSL 3.0 hello", () => {
    const hello = parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_SSL_3_0, cipherSuites: [0x000a], groups: [23], serverName: "mx.example.com", random }));
    expect(hello.extensions).toBeUndefined();
  });

  it("sends SNI, groups, point formats and extended master secret in TLS 1.0, signature algorithms from TLS 1.2", () => {
    const v10 = parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_0, cipherSuites: [0xc013], groups: [29, 23], serverName: "mx.example.com", random }));
    expect(v10.extensions?.map((e) => e.type)).toEqual([0, 10, 11, 23]);
    const sni = ext(v10, 0)!;
    // server_name_list: length, type host_name (0), name length, name
    expect(sni.readUInt16BE(0)).toBe(sni.length - 2);
    expect(sni[2]).toBe(0);
    expect(sni.subarray(5).toString("ascii")).toBe("mx.example.com");
    expect(readU16List(ext(v10, 10)!)).toEqual([29, 23]);
    expect([...ext(v10, 11)!]).toEqual([1, 0]);
    const v12 = parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_2, cipherSuites: [0xc02f], groups: [29], random }));
    expect(v12.extensions?.map((e) => e.type)).toEqual([10, 11, 13, 23]);
    expect(readU16List(ext(v12, 13)!)).toEqual(SIGNATURE_SCHEMES);
  });

  it("asks TLS 1.3 only, with an empty key_share so that the server names its group in a HelloRetryRequest", () => {
    const hello = parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_3, cipherSuites: [0x1301, 0x1302], groups: [29, 23], random }));
    expect(hello.extensions?.map((e) => e.type)).toEqual([10, 13, 43, 51]);
    expect(readU16List(ext(hello, 43)!, 1)).toEqual([0x0304]);
    expect([...ext(hello, 51)!]).toEqual([0, 0]);
  });

  it("pads a hello of 256 to 511 bytes to 512 (RFC 7685), and leaves others alone", () => {
    const mid = parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_2, cipherSuites: Array.from({ length: 80 }, (_, i) => 0xc000 + i), groups: [29], random }));
    expect(ext(mid, 21)).toBeDefined();
    expect(4 + mid.handshakeLength).toBe(512);
    const small = parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_0, cipherSuites: [0x002f], groups: [29], random }));
    expect(ext(small, 21)).toBeUndefined();
    const large = parseClientHello(encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_2, cipherSuites: Array.from({ length: 300 }, (_, i) => i + 1), groups: [29], random }));
    expect(ext(large, 21)).toBeUndefined();
    expect(large.cipherSuites).toHaveLength(301);
  });

  it("refuses what no hello can carry", () => {
    expect(() => encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_2, cipherSuites: [], groups: [], random })).toThrow(/at least one cipher suite/);
    expect(() => encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_2, cipherSuites: [1], groups: [], random: Buffer.alloc(31) })).toThrow(/32 bytes/);
    expect(() => encodeClientHello({ version: TlsVersion.TLS_VERSION_UNSPECIFIED, cipherSuites: [1], groups: [], random })).toThrow(/no wire version/);
  });

  it("draws a fresh random when none is given", () => {
    const a = encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_2, cipherSuites: [1], groups: [] });
    const b = encodeClientHello({ version: TlsVersion.TLS_VERSION_TLS_1_2, cipherSuites: [1], groups: [] });
    expect(a.subarray(11, 43).equals(b.subarray(11, 43))).toBe(false);
  });
});
