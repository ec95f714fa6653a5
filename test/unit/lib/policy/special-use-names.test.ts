// Special-use names, judged by the target policy by name, before any DNS query. Pure.
import { describe, expect, it } from "vitest";
import { parseDenyList } from "../../../../lib/policy/deny-list.js";
import { checkSpecialUseName, SPECIAL_USE_SUFFIXES, specialUseSuffixOf } from "../../../../lib/policy/special-use-names.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";

const policy = createTargetPolicy();

describe("special-use names", () => {
  it.each([
    // [name, the source the reason names]
    ["localhost", "RFC 6761 §6.3"],
    ["LOCALHOST", "RFC 6761 §6.3"],
    ["localhost.", "RFC 6761 §6.3"],
    ["x.localhost", "RFC 6761 §6.3"],
    ["Mail.X.LocalHost.", "RFC 6761 §6.3"],
    ["invalid", "RFC 6761 §6.4"],
    ["mx.example.invalid", "RFC 6761 §6.4"],
    ["MX.EXAMPLE.INVALID.", "RFC 6761 §6.4"],
    ["printer.local", "RFC 6762"],
    ["Printer.Local.", "RFC 6762"],
    ["local", "RFC 6762"],
    ["duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion", "RFC 7686"],
    ["x.ONION", "RFC 7686"],
    ["mail.corp.internal", "ICANN"],
    ["internal.", "ICANN"],
    ["router.home.arpa", "RFC 8375"],
    ["HOME.ARPA.", "RFC 8375"],
  ])("refuses %s by name (%s)", (name, source) => {
    const denial = policy.checkName(name);
    expect(denial?.kind).toBe("special_use_name");
    expect(denial?.reason).toContain(source);
    expect(denial?.reason).toContain(`${name} is a special-use name`);
    expect(denial?.reason).toContain(`--allow-name ${name.toLowerCase().replace(/\.$/, "")}`);
  });

  it.each([
    "mx.example.test",
    "example.test",
    "test",
    "mx.example",
    "example",
    "example.com",
    "mx.example.com.",
    // Look-alikes: the reserved label must be a whole label at the end.
    "notlocalhost",
    "localhost.example.com",
    "local.example.com",
    "mylocal",
    "internal.example.net",
    "onion.example.org",
    "arpa",
    "nothome.arpa",
    "in-addr.arpa",
  ])("allows %s", (name) => {
    expect(policy.checkName(name)).toBeUndefined();
  });

  it("has one entry per reserved suffix, each with where it is reserved", () => {
    expect(SPECIAL_USE_SUFFIXES.map((s) => s.suffix)).toEqual(["localhost", "invalid", "local", "onion", "internal", "home.arpa"]);
    for (const s of SPECIAL_USE_SUFFIXES) expect(s.source).toMatch(/RFC \d+|ICANN/);
    expect(specialUseSuffixOf("a.b.home.arpa")?.suffix).toBe("home.arpa");
  });
});

describe("--allow-name", () => {
  it("lifts the refusal of exactly the name it names, whatever its case or final dot", () => {
    const lab = createTargetPolicy({ allowNames: ["LocalHost.", "printer.local"] });
    expect(lab.allowNames).toEqual(["localhost", "printer.local"]);
    for (const name of ["localhost", "LOCALHOST", "localhost.", "printer.local", "Printer.Local."]) expect(lab.checkName(name)).toBeUndefined();
    // Not the names under it, nor its siblings.
    expect(lab.checkName("x.localhost")?.kind).toBe("special_use_name");
    expect(lab.checkName("scanner.local")?.kind).toBe("special_use_name");
    expect(lab.checkName("x.printer.local")?.kind).toBe("special_use_name");
  });

  it("matches a Unicode name in its A-label form, as names are checked", () => {
    const lab = createTargetPolicy({ allowNames: ["bücher.local"] });
    expect(lab.checkName("xn--bcher-kva.local")).toBeUndefined();
  });

  it("does not lift the operator's deny list", () => {
    const denyList = parseDenyList("localhost\n");
    const lab = createTargetPolicy({ allowNames: ["localhost"], denyList: () => denyList });
    expect(lab.checkName("localhost")?.kind).toBe("deny_list");
  });

  it("is the same rule without a policy (the CLI's local mode)", () => {
    expect(checkSpecialUseName("x.localhost", [])?.kind).toBe("special_use_name");
    expect(checkSpecialUseName("x.localhost.", ["x.localhost"])).toBeUndefined();
    expect(checkSpecialUseName("mx.example.test", [])).toBeUndefined();
  });
});
