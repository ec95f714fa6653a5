// The coordinator's pure parts of the domain check: the request's validation, the agent's answer
// checked, the regions compared.
import { describe, expect, it } from "vitest";
import { DomainTaskReply } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import { DomainPosture, type DomainCheckRequest } from "../../../../gen/smtpprobe/v1/domain.js";
import { compareDomainPostures } from "../../../../services/coordinator/compare-domain.js";
import { checkDomainReply } from "../../../../services/coordinator/validate-domain-posture.js";
import { validateDomainRequest } from "../../../../services/coordinator/validate-domain-request.js";

const base: DomainCheckRequest = { domain: "example.com", dkimSelectors: [], commonDkimSelectors: false, regions: [], blocklistZones: [], skipBlocklists: false, deadlineMs: 0 };

describe("validateDomainRequest", () => {
  it("fills in the defaults", () => {
    expect(validateDomainRequest({ ...base, domain: "Bücher.Example.", dkimSelectors: ["S1", "s1"], regions: ["us", "eu", "us"] }, { maxDeadlineMs: 120_000 })).toEqual({
      ok: true,
      value: { ...base, domain: "xn--bcher-kva.example", dkimSelectors: ["s1"], regions: ["eu", "us"], blocklistZones: ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"], deadlineMs: 30_000 },
    });
    expect(validateDomainRequest({ ...base, skipBlocklists: true }, { maxDeadlineMs: 10_000 })).toMatchObject({ ok: true, value: { blocklistZones: [], deadlineMs: 10_000 } });
  });

  it.each<[Partial<DomainCheckRequest>, string]>([
    [{ domain: "" }, "domain"],
    [{ domain: "192.0.2.1" }, "domain"],
    [{ domain: "a b" }, "domain"],
    [{ dkimSelectors: ["ok", "not ok"] }, "dkim_selectors[1]"],
    [{ dkimSelectors: Array.from({ length: 17 }, (_, i) => `s${i}`) }, "dkim_selectors"],
    [{ blocklistZones: ["bad zone"] }, "blocklist_zones[0]"],
    [{ blocklistZones: Array.from({ length: 9 }, (_, i) => `bl${i}.example`) }, "blocklist_zones"],
    [{ regions: Array.from({ length: 33 }, (_, i) => `r${i}`) }, "regions"],
    [{ blocklistZones: ["bl.example"], skipBlocklists: true }, "blocklist_zones"],
    [{ regions: ["Bad"] }, "regions[0]"],
    [{ deadlineMs: 50 }, "deadline_ms"],
    [{ deadlineMs: 200_000 }, "deadline_ms"],
  ])("%j: %s", (fields, field) => {
    const result = validateDomainRequest({ ...base, ...fields }, { maxDeadlineMs: 120_000 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.violations.map((v) => v.field)).toContain(field);
  });
});

const posture = (fields: Partial<DomainPosture>): DomainPosture => DomainPosture.fromPartial({ domain: "example.com", region: "us", ...fields });
const reply = (fields: Partial<DomainTaskReply>): Uint8Array => DomainTaskReply.encode({ agentId: "a1", ...fields }).finish();

describe("checkDomainReply", () => {
  const expected = { domain: "example.com", region: "us" };
  it("takes a posture of the domain and region asked", () => {
    expect(checkDomainReply(reply({ posture: posture({}) }), expected)).toMatchObject({ ok: true, agentId: "a1" });
  });
  it.each<[string, Uint8Array, RegExp]>([
    ["bytes that are not a reply", new Uint8Array([0xff, 0xff, 0xff]), /not a DomainTaskReply/],
    ["an error", reply({ error: "boom" }), /could not run the check: boom/],
    ["no posture", reply({}), /holds no posture/],
    ["another domain", reply({ posture: posture({ domain: "evil.example" }) }), /checked evil\.example/],
    ["another region", reply({ posture: posture({ region: "eu" }) }), /region eu/],
    ["too many findings", reply({ posture: posture({ findings: Array.from({ length: 401 }, () => ({ code: "x", severity: 1, message: "" })) }) }), /401 findings/],
    ["too many bytes", new Uint8Array(1024 * 1024 + 1), /over/],
    ["too many exchangers", reply({ posture: posture({ mx: DomainPosture.fromPartial({ mx: { exchangers: Array.from({ length: 65 }, () => ({})) } }).mx }) }), /65 exchangers/],
    ["too many DKIM keys", reply({ posture: posture({ dkimKeys: DomainPosture.fromPartial({ dkimKeys: Array.from({ length: 33 }, () => ({})) }).dkimKeys }) }), /33 DKIM keys/],
    ["too many SPF evaluations", reply({ posture: posture({ spf: DomainPosture.fromPartial({ spf: { evaluations: Array.from({ length: 17 }, () => ({})) } }).spf }) }), /17 SPF evaluations/],
    ["an SPF tree too deep", reply({ posture: posture({ spf: DomainPosture.fromPartial({ spf: { record: Array.from({ length: 65 }).reduce<object>((child) => ({ children: [child] }), {}) } }).spf }) }), /SPF tree too large/],
  ])("refuses %s", (_, bytes, reason) => {
    const result = checkDomainReply(bytes, expected);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});

describe("compareDomainPostures", () => {
  const mx = (exchange: string, addresses: string[], listed = false) =>
    ({
      exchangers: [
        {
          exchange,
          preference: 10,
          addresses,
          provider: "",
          error: "",
          addressPostures: addresses.map((address) => ({
            address,
            reverseDns: { ptrNames: [exchange], forwardConfirmed: true, confirmedName: exchange, error: "" },
            blocklists: [{ zone: "bl.example", listed, codes: listed ? ["127.0.0.2"] : [], reason: "", error: "" }],
          })),
        },
      ],
      nullMx: false,
      implicit: false,
      provider: "",
      error: "",
    }) satisfies DomainPosture["mx"];

  it("says nothing for one region, or regions that agree", () => {
    expect(compareDomainPostures([posture({ mx: mx("mx.example.com", ["192.0.2.1"]) })])).toEqual([]);
    expect(compareDomainPostures([posture({ mx: mx("mx.example.com", ["192.0.2.1"]) }), posture({ region: "eu", mx: mx("mx.example.com", ["192.0.2.1"]) })])).toEqual([]);
  });

  it("escapes the controls of a compared value and bounds its length", () => {
    const dmarc = (record: string) => ({ record, policy: "", subdomainPolicy: "", pct: 100, rua: [], ruf: [], inherited: false, organizationalDomain: "", error: "" }) as unknown as DomainPosture["dmarc"];
    const [difference] = compareDomainPostures([
      posture({ region: "us", dmarc: dmarc("v=DMARC1; p=reject\r\nforged") }),
      posture({ region: "eu", dmarc: dmarc(`v=DMARC1; p=none; ${"x".repeat(300)}`) }),
    ]);
    expect(difference?.summary).toContain("v=DMARC1; p=reject\\x0d\\x0aforged from us");
    expect(difference?.summary).not.toMatch(/[\r\n]/);
    expect(difference?.summary).toContain(`v=DMARC1; p=none; ${"x".repeat(160 - 18 - 1)}… from eu`);
  });

  it("names who saw what", () => {
    const differences = compareDomainPostures([
      posture({ region: "us", mx: mx("mx.example.com", ["192.0.2.1"], true) }),
      posture({ region: "eu", mx: mx("mx.example.com", ["192.0.2.2"]) }),
      posture({ region: "ap", mx: mx("mx.example.com", ["192.0.2.1"]) }),
    ]);
    expect(differences).toEqual([
      { part: "mx", regions: ["ap", "eu", "us"], summary: "The addresses of mx.example.com differ: 192.0.2.1 from ap, us; 192.0.2.2 from eu." },
      { part: "blocklist", regions: ["ap", "us"], summary: "The listing of 192.0.2.1 in bl.example differs: listed (127.0.0.2) from us; not listed from ap." },
    ]);
  });
});
