// What one hello's exchange says about the server, for the version and the offer it made:
// accepted (with the suite and group it chose), refused (how), or unknown (why). Pure.
import { TlsVersion } from "../../../gen/smtpprobe/v1/handshake.js";
import { escapeLine } from "../transcript.js";
import { suiteName } from "./cipher-catalogue.js";
import type { HelloExchange } from "./hello-exchange.js";
import type { ServerFlight } from "./server-flight.js";
import { alertLabel, groupName, WIRE_VERSION, wireVersionLabel } from "./tls-registry.js";

/** One hello: the version tested and what it offered. */
export interface HelloRequest {
  version: TlsVersion;
  cipherSuites: readonly number[];
  groups: readonly number[];
}

export type HelloAnswer =
  | { kind: "accepted"; cipherSuite: number; group?: number; flight: ServerFlight }
  | { kind: "refused"; detail: string }
  /**
   * Nothing learned about the offer. `connection`: the failure was the connection's or the SMTP
   * dialogue's, not a TLS answer; `final`: the scan should stop (policy, throttle, its own end).
   */
  | { kind: "unknown"; detail: string; connection: boolean; final: boolean };

export function interpretExchange(exchange: HelloExchange, request: HelloRequest): HelloAnswer {
  if (exchange.kind === "no_connection") return { kind: "unknown", detail: `no connection: ${exchange.reason}`, connection: true, final: exchange.final };
  if (exchange.kind === "smtp_failed") return { kind: "unknown", detail: exchange.reason, connection: true, final: false };
  const { flight, end, partial } = exchange;
  const hello = flight.serverHello;
  if (hello) return interpretServerHello(flight, request);
  if (flight.alert) return { kind: "refused", detail: `alert ${alertLabel(flight.alert.description)}` };
  if (flight.error) {
    switch (flight.error.kind) {
      case "not_tls":
        return unknown(`answered with bytes that are not TLS: ${describeBytes(flight.error.firstBytes)}`);
      case "malformed":
        return unknown(`answered with a malformed TLS message: ${flight.error.what}`);
      case "unexpected":
        return unknown(`answered out of order: ${flight.error.what}`);
    }
  }
  if (end === "aborted") return { kind: "unknown", detail: "the scan stopped before the answer", connection: true, final: true };
  if (partial || flight.cut) return unknown(`the answer was cut short after ${flight.bytes} bytes (${end === "timeout" ? "then silence" : `then the connection ${end === "reset" ? "was reset" : "closed"}`})`);
  switch (end) {
    case "closed":
      return { kind: "refused", detail: "closed the connection without an answer" };
    case "reset":
      return { kind: "refused", detail: "reset the connection without an answer" };
    case "timeout":
      return unknown("no answer to the hello in time");
    default:
      return unknown("no ServerHello in the answer");
  }
}

function interpretServerHello(flight: ServerFlight, request: HelloRequest): HelloAnswer {
  const hello = flight.serverHello!;
  const asked = WIRE_VERSION[request.version]!;
  if (request.version === TlsVersion.TLS_VERSION_TLS_1_3) {
    if (hello.version !== 0x0304) return { kind: "refused", detail: `answered with ${wireVersionLabel(hello.version)}` };
  } else if (hello.version !== asked) {
    // RFC 5246 §E.1: a server that does not speak the client's version answers with a lower one.
    if (hello.version < asked && !hello.extensions.includes(43)) return { kind: "refused", detail: `answered with ${wireVersionLabel(hello.version)}` };
    return unknown(`answered a ${wireVersionLabel(asked)} hello with ${wireVersionLabel(hello.version)}, which was not offered`);
  }
  if (!request.cipherSuites.includes(hello.cipherSuite)) {
    return unknown(`chose ${suiteName(hello.cipherSuite)}, which was not offered`);
  }
  if (hello.group !== undefined && !request.groups.includes(hello.group)) {
    return unknown(`chose the group ${groupName(hello.group)}, which was not offered`);
  }
  if (request.version === TlsVersion.TLS_VERSION_TLS_1_3 && hello.group === undefined) {
    return unknown("answered a TLS 1.3 hello without naming a key-exchange group");
  }
  const group = hello.group ?? (flight.serverKeyExchange?.kind === "ecdhe" ? flight.serverKeyExchange.group : undefined);
  return { kind: "accepted", cipherSuite: hello.cipherSuite, group, flight };
}

function unknown(detail: string): HelloAnswer {
  return { kind: "unknown", detail, connection: false, final: false };
}

/** The first bytes as text when they are text, else in hex. */
function describeBytes(bytes: Buffer): string {
  const text = bytes.toString("latin1");
  if (/^[\x20-\x7e\r\n\t]+$/.test(text)) return `"${escapeLine(text).slice(0, 40)}"`;
  return bytes.subarray(0, 12).toString("hex").replace(/(..)/g, "$1 ").trim();
}
