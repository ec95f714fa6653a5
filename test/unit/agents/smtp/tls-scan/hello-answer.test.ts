import { describe, expect, it } from "vitest";
import { TlsVersion } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { interpretExchange, type HelloRequest } from "../../../../../agents/smtp/tls-scan/hello-answer.js";
import type { FlightEnd, HelloExchange } from "../../../../../agents/smtp/tls-scan/hello-exchange.js";
import type { ServerFlight, ServerHello } from "../../../../../agents/smtp/tls-scan/server-flight.js";

const V10 = TlsVersion.TLS_VERSION_TLS_1_0;
const V12 = TlsVersion.TLS_VERSION_TLS_1_2;
const V13 = TlsVersion.TLS_VERSION_TLS_1_3;

function answered(flight: Partial<ServerFlight>, end: FlightEnd = "whole", partial = false): HelloExchange {
  return { kind: "answered", flight: { helloDone: false, cut: false, bytes: 100, ...flight }, end, partial };
}

function hello(h: Partial<ServerHello>): Partial<ServerFlight> {
  return { serverHello: { legacyVersion: 0x0303, version: 0x0303, cipherSuite: 0xc02f, helloRetry: false, extensions: [], ...h } };
}

const ask12: HelloRequest = { version: V12, cipherSuites: [0xc02f, 0x002f], groups: [29, 23] };
const ask10: HelloRequest = { version: V10, cipherSuites: [0xc013, 0x002f], groups: [29] };
const ask13: HelloRequest = { version: V13, cipherSuites: [0x1301, 0x1302], groups: [29, 23] };

describe("interpretExchange", () => {
  it.each([
    { name: "a ServerHello of the version asked, with a suite offered", exchange: answered(hello({})), request: ask12, want: { kind: "accepted", cipherSuite: 0xc02f } },
    { name: "an ECDHE curve from the key exchange", exchange: answered({ ...hello({}), serverKeyExchange: { kind: "ecdhe", group: 23 } }), request: ask12, want: { kind: "accepted", group: 23 } },
    { name: "a HelloRetryRequest for TLS 1.3", exchange: answered(hello({ version: 0x0304, cipherSuite: 0x1302, helloRetry: true, group: 23, extensions: [43, 51] })), request: ask13, want: { kind: "accepted", cipherSuite: 0x1302, group: 23 } },
    { name: "a lower version: the one asked is refused", exchange: answered(hello({ legacyVersion: 0x0301, version: 0x0301, cipherSuite: 0xc013 })), request: ask12, want: { kind: "refused", detail: "answered with TLS 1.0" } },
    { name: "TLS 1.2 to a TLS 1.3 hello", exchange: answered(hello({})), request: ask13, want: { kind: "refused", detail: "answered with TLS 1.2" } },
    { name: "an alert", exchange: answered({ alert: { level: 2, description: 70 } }), request: ask12, want: { kind: "refused", detail: "alert protocol_version (70)" } },
    { name: "a close without a byte", exchange: answered({ bytes: 0 }, "closed"), request: ask12, want: { kind: "refused", detail: "closed the connection without an answer" } },
    { name: "a reset without a byte", exchange: answered({ bytes: 0 }, "reset"), request: ask12, want: { kind: "refused", detail: "reset the connection without an answer" } },
  ])("takes $name", ({ exchange, request, want }) => {
    expect(interpretExchange(exchange, request)).toMatchObject(want);
  });

  it.each([
    { name: "a higher version than offered", exchange: answered(hello({})), request: ask10, detail: "answered a TLS 1.0 hello with TLS 1.2, which was not offered" },
    { name: "a suite not offered", exchange: answered(hello({ cipherSuite: 0x0005 })), request: ask12, detail: "chose TLS_RSA_WITH_RC4_128_SHA, which was not offered" },
    { name: "a group not offered", exchange: answered(hello({ version: 0x0304, cipherSuite: 0x1301, helloRetry: true, group: 30 })), request: ask13, detail: "chose the group x448, which was not offered" },
    { name: "TLS 1.3 without a group", exchange: answered(hello({ version: 0x0304, cipherSuite: 0x1301, helloRetry: true })), request: ask13, detail: "answered a TLS 1.3 hello without naming a key-exchange group" },
    { name: "garbage", exchange: answered({ error: { kind: "not_tls", firstBytes: Buffer.from("500 what?\r\n") } }), request: ask12, detail: 'answered with bytes that are not TLS: "500 what?\\x0d\\x0a"' },
    { name: "binary garbage", exchange: answered({ error: { kind: "not_tls", firstBytes: Buffer.from([0, 1, 2, 0xff]) } }), request: ask12, detail: "answered with bytes that are not TLS: 00 01 02 ff" },
    { name: "a malformed hello", exchange: answered({ error: { kind: "malformed", what: "the ServerHello cut short" } }), request: ask12, detail: "answered with a malformed TLS message: the ServerHello cut short" },
    { name: "a ServerHello cut by a close", exchange: answered({ bytes: 20 }, "closed", true), request: ask12, detail: "the answer was cut short after 20 bytes (then the connection closed)" },
    { name: "a ServerHello cut by silence", exchange: answered({ bytes: 20 }, "timeout", true), request: ask12, detail: "the answer was cut short after 20 bytes (then silence)" },
    { name: "silence", exchange: answered({ bytes: 0 }, "timeout"), request: ask12, detail: "no answer to the hello in time" },
  ])("knows nothing from $name, and says why", ({ exchange, request, detail }) => {
    expect(interpretExchange(exchange, request)).toEqual({ kind: "unknown", detail, connection: false, final: false });
  });

  it("tells a failed connection or dialogue from a TLS answer, and a final one from another", () => {
    expect(interpretExchange({ kind: "no_connection", reason: "throttled: 4 open", final: true }, ask12)).toEqual({ kind: "unknown", detail: "no connection: throttled: 4 open", connection: true, final: true });
    expect(interpretExchange({ kind: "no_connection", reason: "refused", final: false }, ask12)).toMatchObject({ connection: true, final: false });
    expect(interpretExchange({ kind: "smtp_failed", reason: "STARTTLS was answered 454 4.7.0 TLS not available" }, ask12)).toEqual({
      kind: "unknown",
      detail: "STARTTLS was answered 454 4.7.0 TLS not available",
      connection: true,
      final: false,
    });
    expect(interpretExchange(answered({ bytes: 0 }, "aborted"), ask12)).toMatchObject({ kind: "unknown", final: true });
  });
});
