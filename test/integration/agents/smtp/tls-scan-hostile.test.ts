// The TLS scan against servers that answer its hellos badly: garbage, an alert, a ServerHello cut
// short, a close, silence, a refused STARTTLS, a suite never offered, and a server that accepts
// every suite. Each is a clear result within the scan's bounds, never a crash.
import { afterEach, describe, expect, it } from "vitest";
import { Outcome, TlsScanStatus, TlsVersion, VersionSupport, type TlsProfile } from "../../../../gen/smtpprobe/v1/handshake.js";
import { startTlsHelloServer, type TlsHelloServer, type TlsHelloServerOptions } from "../../../helpers/tls-hello-server.js";
import { alertRecord, helloRetryRecord, readU16List, record, serverHelloRecord, SERVER_HELLO_DONE, type ParsedClientHello } from "../../../helpers/tls-records.js";
import type { ConnectGate } from "../../../../agents/smtp/probe-target.js";
import { probeOnce, type OptionsInput } from "./probe-helpers.js";

const SCAN: OptionsInput = { tlsScan: true, timeouts: { tlsMs: 400, deadlineMs: 30_000 } };

let servers: TlsHelloServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function server(opts: TlsHelloServerOptions): Promise<TlsHelloServer> {
  const s = await startTlsHelloServer(opts);
  servers.push(s);
  return s;
}

function details(profile: TlsProfile | undefined): string[] {
  return (profile?.versions ?? []).map((v) => `${TlsVersion[v.version]} ${VersionSupport[v.support]} ${v.detail}`);
}

/** The version a hello asks: supported_versions' first, else client_version. */
function askedVersion(hello: ParsedClientHello): number {
  const sv = hello.extensions?.find((e) => e.type === 43);
  return sv ? readU16List(sv.data, 1)[0]! : hello.clientVersion;
}

describe("the TLS scan against hostile answers", () => {
  it("garbage instead of a ServerHello: each version unknown, with the bytes shown", async () => {
    const s = await server({ answer: () => Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n") });
    const r = await probeOnce(s.port, SCAN);
    expect(r.tlsProfile!.status).toBe(TlsScanStatus.TLS_SCAN_STATUS_PARTIAL);
    expect(details(r.tlsProfile)).toEqual(
      ["TLS_VERSION_SSL_3_0", "TLS_VERSION_TLS_1_0", "TLS_VERSION_TLS_1_1", "TLS_VERSION_TLS_1_2", "TLS_VERSION_TLS_1_3"].map(
        (v) => `${v} VERSION_SUPPORT_UNKNOWN answered with bytes that are not TLS: "HTTP/1.1 400 Bad"`,
      ),
    );
    expect(r.tlsProfile!.connections).toBe(5);
  });

  it("an alert to every hello: every version refused, the alert named", async () => {
    const s = await server({ answer: () => alertRecord(40) });
    const r = await probeOnce(s.port, SCAN);
    expect(r.outcome).toBe(Outcome.OUTCOME_TLS_FAILED);
    expect(r.tlsProfile!.status, r.tlsProfile!.reason).toBe(TlsScanStatus.TLS_SCAN_STATUS_COMPLETE);
    expect(new Set(details(r.tlsProfile).map((d) => d.replace(/^\S+ /, "")))).toEqual(new Set(["VERSION_SUPPORT_REFUSED alert handshake_failure (40)"]));
  });

  it("a ServerHello cut short, then a close: unknown, and why", async () => {
    const s = await server({ answer: () => serverHelloRecord({ version: 0x0303, cipher: 0xc02f }).subarray(0, 20) });
    const r = await probeOnce(s.port, SCAN);
    expect(details(r.tlsProfile)[3]).toBe("TLS_VERSION_TLS_1_2 VERSION_SUPPORT_UNKNOWN the answer was cut short after 20 bytes (then the connection closed)");
  });

  it("a close right after the hello: refused, without an answer", async () => {
    const s = await server({ answer: () => ({ then: "close" }) });
    const r = await probeOnce(s.port, SCAN);
    expect(details(r.tlsProfile)[4]).toBe("TLS_VERSION_TLS_1_3 VERSION_SUPPORT_REFUSED closed the connection without an answer");
  });

  it("silence after the hello: unknown once the answer's time is up, the scan within its time", async () => {
    const s = await server({ answer: () => ({ then: "silence" }) });
    const began = performance.now();
    const r = await probeOnce(s.port, SCAN);
    expect(details(r.tlsProfile)[0]).toBe("TLS_VERSION_SSL_3_0 VERSION_SUPPORT_UNKNOWN no answer to the hello in time");
    expect(performance.now() - began).toBeLessThan(5_000);
  });

  it("STARTTLS refused on the scan's connections: stops after three in a row", async () => {
    const s = await server({ answer: () => alertRecord(40), starttlsReply: "454 4.7.0 TLS not available due to local problem" });
    const r = await probeOnce(s.port, SCAN);
    expect(r.tlsProfile!.status).toBe(TlsScanStatus.TLS_SCAN_STATUS_PARTIAL);
    expect(r.tlsProfile!.reason).toMatch(/^stopped: 3 connections in a row failed before a TLS answer \(the last: STARTTLS was answered 454 4\.7\.0 TLS not available/);
    expect(r.tlsProfile!.connections).toBeLessThanOrEqual(3 + 3);
  });

  it("a suite that was not offered: unknown, never taken as accepted", async () => {
    const s = await server({ answer: () => serverHelloRecord({ version: 0x0303, cipher: 0xfefe }) });
    const r = await probeOnce(s.port, SCAN);
    expect(details(r.tlsProfile)[3]).toBe("TLS_VERSION_TLS_1_2 VERSION_SUPPORT_UNKNOWN chose 0xFEFE, which was not offered");
  });

  it("the same suite again once it was left out of the offer: the list stops there, incomplete", async () => {
    const s = await server({ answer: () => serverHelloRecord({ version: 0x0303, cipher: 0x0004 }) });
    const r = await probeOnce(s.port, SCAN);
    const v12 = r.tlsProfile!.versions[3]!;
    expect(v12).toMatchObject({ support: VersionSupport.VERSION_SUPPORT_ACCEPTED, ciphersComplete: false, detail: "cipher suites not all tried: chose TLS_RSA_WITH_RC4_128_MD5, which was not offered" });
    expect(v12.ciphers.map((c) => c.name)).toEqual(["TLS_RSA_WITH_RC4_128_MD5"]);
  });

  it("a server that accepts every suite it is offered: the scan stops at its bound of 48 connections", async () => {
    const s = await server({
      answer: (hello) => {
        const version = askedVersion(hello);
        if (version === 0x0304) {
          const groups = readU16List(hello.extensions!.find((e) => e.type === 10)!.data);
          return helloRetryRecord(hello.cipherSuites[0]!, groups[0]!);
        }
        return Buffer.concat([serverHelloRecord({ version, cipher: hello.cipherSuites[0]! }), record(22, SERVER_HELLO_DONE, version)]);
      },
    });
    let held = 0;
    let peak = 0;
    const gate: ConnectGate = async () => {
      peak = Math.max(peak, ++held);
      return { release: () => (held -= 1) };
    };
    const r = await probeOnce(s.port, SCAN, { gate });
    const profile = r.tlsProfile!;
    expect(profile.connections).toBe(48);
    expect(s.hellos().length).toBe(48 + 1); // and the handshake's own, from Node
    expect(profile.status).toBe(TlsScanStatus.TLS_SCAN_STATUS_PARTIAL);
    expect(profile.reason).toMatch(/^stopped: the scan's bound of 48 connections was reached/);
    expect(profile.versions.every((v) => v.support === VersionSupport.VERSION_SUPPORT_ACCEPTED)).toBe(true);
    expect(r.findings.map((f) => f.code)).toEqual(expect.arrayContaining(["tls_ciphers_insecure", "tls_old_versions_accepted", "tls_scan_incomplete"]));
    expect(peak).toBeLessThanOrEqual(4);
  });
});
