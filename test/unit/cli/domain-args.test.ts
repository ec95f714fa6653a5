// `smtp-probe domain`'s flags: the bounds on selectors, DNS servers and zones, each a UsageError naming the flag.
import { describe, expect, it } from "vitest";
import { MAX_DKIM_SELECTORS, parseDomainArgs, type DomainFlags } from "../../../cli/domain-args.js";
import { UsageError } from "../../../cli/usage-error.js";

function usage(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error("expected a UsageError");
}

const many = (n: number, item: (i: number) => string): string[] => Array.from({ length: n }, (_, i) => item(i));

describe("parseDomainArgs", () => {
  it("takes as many selectors, DNS servers and zones as its bounds allow", () => {
    const request = parseDomainArgs("Example.COM.", {
      dkimSelector: many(MAX_DKIM_SELECTORS, (i) => `s${i}`),
      dnsServer: many(8, (i) => `127.0.0.${i + 1}`),
      dnsbl: many(8, (i) => `bl${i}.example`),
    });
    expect(request).toMatchObject({ domain: "example.com" });
    expect(request.dkimSelectors).toHaveLength(MAX_DKIM_SELECTORS);
    expect(request.dnsServers).toHaveLength(8);
    expect(request.blocklistZones).toHaveLength(8);
  });

  it.each<[DomainFlags, string]>([
    [{ dkimSelector: many(MAX_DKIM_SELECTORS + 1, (i) => `s${i}`) }, `--dkim-selector: at most ${MAX_DKIM_SELECTORS} selectors, got ${MAX_DKIM_SELECTORS + 1}`],
    [{ dnsServer: many(9, (i) => `127.0.0.${i + 1}`) }, "--dns-server: at most 8 DNS servers, got 9"],
    [{ dnsbl: many(9, (i) => `bl${i}.example`) }, "--dnsbl: at most 8 zones, got 9"],
  ])("%j → %s", (flags, message) => {
    expect(usage(() => parseDomainArgs("example.com", flags))).toContain(message);
  });
});
