// The scan's plan against servers described as data: what a server accepts, in which order, with
// which groups; the answers computed as a TLS server would choose. No sockets.
import { describe, expect, it } from "vitest";
import { CipherGrade, CipherOrder, TlsVersion } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { candidatesFor, CIPHER_SUITES, gradeOf, suiteByCode } from "../../../../../agents/smtp/tls-scan/cipher-catalogue.js";
import type { HelloAnswer, HelloRequest } from "../../../../../agents/smtp/tls-scan/hello-answer.js";
import { PLAN_BOUNDS, runScanPlan, type ScanFacts } from "../../../../../agents/smtp/tls-scan/scan-plan.js";
import { SSL3, V10, V11, V12, V13 } from "../../../../helpers/tls-versions.js";


interface ServerModel {
  /** Accepted suites per version, in the server's order of preference. */
  versions: Partial<Record<TlsVersion, number[]>>;
  /** Default true: the server picks by its own order. */
  serverOrder?: boolean;
  /** TLS 1.3 groups, in the server's preference. */
  groups13?: number[];
  /** TLS 1.2 ECDHE curves, in the server's preference. */
  curves12?: number[];
  dheBits?: number;
  /** The chain per key type (DER stand-ins). */
  chains?: Record<string, Buffer[]>;
  /** What a refusal looks like. */
  refusal?: (request: HelloRequest) => HelloAnswer;
}

const ALERT: HelloAnswer = { kind: "refused", detail: "alert handshake_failure (40)" };

/** What a server described by `model` answers to a hello, and how many hellos it saw. */
function serve(model: ServerModel): { ask: (r: HelloRequest) => Promise<HelloAnswer>; asked: HelloRequest[] } {
  const asked: HelloRequest[] = [];
  const ask = async (request: HelloRequest): Promise<HelloAnswer> => {
    asked.push(request);
    await Promise.resolve();
    const accepted = model.versions[request.version];
    const refuse = model.refusal?.(request) ?? ALERT;
    if (!accepted) return refuse;
    const curve = (model.curves12 ?? [29, 23]).find((g) => request.groups.includes(g));
    const usable = (code: number): boolean => request.version === V13 || suiteByCode(code)?.serverKeyExchange !== "ecdhe" || curve !== undefined;
    const offered = request.cipherSuites.filter((c) => accepted.includes(c) && usable(c));
    const choice = model.serverOrder === false ? offered[0] : accepted.find((c) => offered.includes(c));
    if (choice === undefined) return refuse;
    if (request.version === V13) {
      const group = (model.groups13 ?? [29]).find((g) => request.groups.includes(g));
      if (group === undefined) return refuse;
      return { kind: "accepted", cipherSuite: choice, group, flight: { helloDone: false, cut: false, bytes: 90 } };
    }
    const suite = suiteByCode(choice)!;
    const keyExchange =
      suite.serverKeyExchange === "ecdhe"
        ? { kind: "ecdhe" as const, group: curve! }
        : suite.serverKeyExchange === "dhe"
          ? { kind: "dhe" as const, primeBits: model.dheBits ?? 2048 }
          : undefined;
    return {
      kind: "accepted",
      cipherSuite: choice,
      ...(keyExchange?.kind === "ecdhe" ? { group: keyExchange.group } : {}),
      flight: { helloDone: true, cut: false, bytes: 900, certificates: model.chains?.[suite.authKey], ...(keyExchange ? { serverKeyExchange: keyExchange } : {}) },
    };
  };
  return { ask, asked };
}

const UNBOUNDED = { ...PLAN_BOUNDS, maxConnections: 1000 };

function accepted(facts: ScanFacts): Record<number, number[]> {
  return Object.fromEntries(facts.versions.filter((v) => v.support === "accepted").map((v) => [v.version, [...v.ciphers].sort((a, b) => a - b)]));
}

const MODERN_12 = [0xc02f, 0xc030, 0xcca8, 0x009e, 0x009f];
const MODERN_13 = [0x1302, 0x1303, 0x1301];

describe("runScanPlan", () => {
  it("finds every version and suite of a modern server, its groups and its order", async () => {
    const { ask, asked } = serve({ versions: { [V12]: MODERN_12, [V13]: MODERN_13 }, groups13: [29, 23, 24], dheBits: 2048 });
    const facts = await runScanPlan(ask, UNBOUNDED);
    expect(facts.stopped).toBeUndefined();
    expect(facts.versions.map((v) => [v.version, v.support, v.complete])).toEqual([
      [SSL3, "refused", true],
      [V10, "refused", true],
      [V11, "refused", true],
      [V12, "accepted", true],
      [V13, "accepted", true],
    ]);
    expect(accepted(facts)).toEqual({ [V12]: [...MODERN_12].sort((a, b) => a - b), [V13]: [0x1301, 0x1302, 0x1303] });
    expect(facts.groups).toEqual([29, 23, 24]);
    expect(facts.groupsComplete).toBe(true);
    expect(facts.order).toBe(CipherOrder.CIPHER_ORDER_SERVER);
    expect(facts.orderVersion).toBe(V12);
    expect(facts.dhePrimeBits).toBe(2048);
    // 5 versions; TLS 1.2: insecure and weak lists refused at once, the rest 4 more + 1; TLS 1.3: 2 + 1; groups 2 + 1; order 1.
    expect(facts.connections).toBe(asked.length);
    expect(facts.connections).toBe(5 + 2 + 5 + 3 + 3 + 1);
  });

  it("tells a server that takes the client's order", async () => {
    const { ask } = serve({ versions: { [V12]: MODERN_12 }, serverOrder: false });
    const facts = await runScanPlan(ask, UNBOUNDED);
    expect(facts.order).toBe(CipherOrder.CIPHER_ORDER_CLIENT);
  });

  it("finds the weak suites of each version, and the curves from the key exchange without TLS 1.3", async () => {
    const old = [0xc013, 0x002f, 0x000a, 0x0005, 0x0034];
    const { ask } = serve({ versions: { [V10]: old, [V11]: old, [V12]: [...old, 0xc02f] }, curves12: [23, 24], dheBits: 1024 });
    const facts = await runScanPlan(ask, UNBOUNDED);
    expect(accepted(facts)).toEqual({ [V10]: [...old].sort((a, b) => a - b), [V11]: [...old].sort((a, b) => a - b), [V12]: [...old, 0xc02f].sort((a, b) => a - b) });
    expect(facts.groups).toEqual([23, 24]);
    expect(facts.groupsComplete).toBe(true);
    expect(facts.dhePrimeBits).toBe(1024);
  });

  it("keeps the first chain of each key type the suites authenticated with", async () => {
    const rsa = [Buffer.from("rsa-leaf")];
    const ecdsa = [Buffer.from("ec-leaf"), Buffer.from("ec-ca")];
    const { ask } = serve({ versions: { [V12]: [0xc02b, 0xc02f] }, chains: { RSA: rsa, ECDSA: ecdsa } });
    const facts = await runScanPlan(ask, UNBOUNDED);
    expect([...facts.chains.entries()].sort()).toEqual([
      ["ECDSA", ecdsa],
      ["RSA", rsa],
    ]);
  });

  it("stays within its bound against a server that accepts every suite, and knows every version's worst grade", async () => {
    const everything = Object.fromEntries([SSL3, V10, V11, V12, V13].map((v) => [v, candidatesFor(v).map((s) => s.code)]));
    const { ask, asked } = serve({ versions: everything, groups13: [29, 23, 24, 25, 30, 256] });
    const facts = await runScanPlan(ask, PLAN_BOUNDS);
    expect(asked).toHaveLength(PLAN_BOUNDS.maxConnections);
    expect(facts.connections).toBe(PLAN_BOUNDS.maxConnections);
    expect(facts.stopped).toBe(`the scan's bound of ${PLAN_BOUNDS.maxConnections} connections was reached`);
    expect(facts.versions.every((v) => v.support === "accepted")).toBe(true);
    expect(facts.versions.filter((v) => v.version !== V13).every((v) => !v.complete)).toBe(true);
    // Breadth first: every list of every version had its first hellos, so each has insecure suites found.
    for (const v of facts.versions.filter((f) => f.version !== V13)) {
      expect(v.ciphers.some((c) => gradeOf(suiteByCode(c)!, v.version).grade === CipherGrade.CIPHER_GRADE_INSECURE)).toBe(true);
    }
    // The connection kept for the order was used.
    expect(facts.order).not.toBe(CipherOrder.CIPHER_ORDER_UNSPECIFIED);
  });

  it("says which versions it could not tell, and stops after three failed connections in a row", async () => {
    let n = 0;
    const ask = async (): Promise<HelloAnswer> => {
      n += 1;
      return { kind: "unknown", detail: "STARTTLS was answered 454 4.7.0 TLS not available", connection: true, final: false };
    };
    const facts = await runScanPlan(ask, { ...UNBOUNDED, concurrency: 1 });
    expect(n).toBe(3);
    expect(facts.stopped).toBe("3 connections in a row failed before a TLS answer (the last: STARTTLS was answered 454 4.7.0 TLS not available)");
    expect(facts.versions.map((v) => v.support)).toEqual(["unknown", "unknown", "unknown", "unknown", "unknown"]);
    expect(facts.versions[4]!.detail).toMatch(/^not tested: 3 connections in a row failed/);
    expect(facts.groupsComplete).toBe(false);
  });

  it("stops at once on a final failure: the throttle or the policy said no", async () => {
    let n = 0;
    const ask = async (): Promise<HelloAnswer> => {
      n += 1;
      return { kind: "unknown", detail: "no connection: throttled: 60 connections to 192.0.2.1 in the last minute (limit 60)", connection: true, final: true };
    };
    const facts = await runScanPlan(ask, { ...UNBOUNDED, concurrency: 1 });
    expect(n).toBe(1);
    expect(facts.stopped).toMatch(/throttled/);
  });

  it("goes on past answers that are not TLS, noting them per version", async () => {
    const { ask: serverAsk } = serve({ versions: { [V12]: MODERN_12 } });
    const ask = async (r: HelloRequest): Promise<HelloAnswer> =>
      r.version === V10 ? { kind: "unknown", detail: "answered with bytes that are not TLS: 00 00", connection: false, final: false } : serverAsk(r);
    const facts = await runScanPlan(ask, UNBOUNDED);
    expect(facts.stopped).toBeUndefined();
    expect(facts.versions[1]).toMatchObject({ support: "unknown", detail: "answered with bytes that are not TLS: 00 00", complete: false });
    expect(facts.versions[3]).toMatchObject({ support: "accepted", complete: true });
  });

  it("marks a list left unfinished by an odd answer as incomplete", async () => {
    const { ask: serverAsk } = serve({ versions: { [V12]: MODERN_12 } });
    let seen = 0;
    const ask = async (r: HelloRequest): Promise<HelloAnswer> => {
      if (r.version === V12 && ++seen === 3) return { kind: "unknown", detail: "no answer to the hello in time", connection: false, final: false };
      return serverAsk(r);
    };
    const facts = await runScanPlan(ask, UNBOUNDED);
    expect(facts.versions[3]).toMatchObject({ support: "accepted", complete: false, detail: "cipher suites not all tried: no answer to the hello in time" });
  });

  it("never asks more than its concurrency at once", async () => {
    let open = 0;
    let peak = 0;
    const { ask: serverAsk } = serve({ versions: { [V12]: MODERN_12, [V13]: MODERN_13 } });
    const ask = async (r: HelloRequest): Promise<HelloAnswer> => {
      open += 1;
      peak = Math.max(peak, open);
      await new Promise((resolve) => setTimeout(resolve, 1));
      open -= 1;
      return serverAsk(r);
    };
    await runScanPlan(ask, { ...UNBOUNDED, concurrency: 3 });
    expect(peak).toBe(3);
  });

  it("offers only suites valid in the version of each hello", async () => {
    const { ask, asked } = serve({ versions: { [V10]: [0xc013], [V12]: MODERN_12, [V13]: MODERN_13 } });
    await runScanPlan(ask, UNBOUNDED);
    for (const r of asked) {
      for (const code of r.cipherSuites) {
        const suite = CIPHER_SUITES.find((s) => s.code === code)!;
        expect(r.version === V13 ? suite.tls13 : !suite.tls13 && (!suite.tls12Only || r.version === V12)).toBe(true);
      }
    }
  });
});
