import { describe, expect, it } from "vitest";
import { dmarcRecordsOf, parseDmarcRecord, policyStrength } from "../../../../agents/posture/dmarc-record.js";

describe("dmarcRecordsOf", () => {
  it.each([
    [[["v=DMARC1; p=none"]], 1],
    [[["v=DMARC1;p=none"]], 1],
    [[["v=dmarc1; p=none"]], 1],
    [[["p=none; v=DMARC1"]], 0],
    [[["v=DMARC1 p=none"]], 0],
    [[["v=DMARC1; ", "p=reject"]], 1],
  ])("%j: %i", (txt, count) => {
    expect(dmarcRecordsOf(txt)).toHaveLength(count);
  });
});

describe("parseDmarcRecord", () => {
  it("reads every tag, with defaults", () => {
    const parsed = parseDmarcRecord("v=DMARC1; p=quarantine; rua=mailto:a@example.com,mailto:b@report.example.net!10m; ruf=mailto:f@example.com");
    expect(parsed).toMatchObject({ policy: "quarantine", subdomainPolicy: "quarantine", hasSubdomainPolicy: false, pct: 100, adkim: "r", aspf: "r", errors: [] });
    expect(parsed.rua).toEqual([
      { uri: "mailto:a@example.com", domain: "example.com" },
      { uri: "mailto:b@report.example.net!10m", domain: "report.example.net" },
    ]);
    expect(parsed.ruf.map((u) => u.domain)).toEqual(["example.com"]);
  });

  it.each([
    ["v=DMARC1; p=reject; sp=none; pct=20; adkim=s; aspf=s", { subdomainPolicy: "none", pct: 20, adkim: "s", aspf: "s", errors: [] }],
    ["v=DMARC1", { policy: "", errors: ["no p= tag: the policy is required (RFC 7489 §6.3)"] }],
    ["v=DMARC1; p=maybe", { errors: ["p=maybe is not none, quarantine or reject"] }],
    ["v=DMARC1; p=none; pct=101", { pct: 100, errors: ["pct=101 is not a whole number from 0 to 100"] }],
    ["v=DMARC1; p=none; adkim=x", { errors: ["adkim=x is not r or s"] }],
    ["v=DMARC1; p=none; p=reject", { policy: "none", errors: ["tag p appears more than once"] }],
    ["v=DMARC1; p=none; rua=mailto:nobody", { errors: ['rua: "mailto:nobody" has no mailbox domain'] }],
    ["v=DMARC1; p=none; rua=reports@example.com", { errors: ['rua: "reports@example.com" is not a URI'] }],
    ["v=DMARC1; p=none; junk", { errors: ['"junk" is not a tag=value pair'] }],
  ])("%s", (record, expected) => {
    expect(parseDmarcRecord(record)).toMatchObject(expected);
  });

  it("orders policies by strength", () => {
    expect(["none", "quarantine", "reject"].map(policyStrength)).toEqual([0, 1, 2]);
  });
});
