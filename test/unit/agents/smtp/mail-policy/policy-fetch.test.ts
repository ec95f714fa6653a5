import { describe, expect, it } from "vitest";
import { fetchPolicyText } from "../../../../../agents/smtp/mail-policy/policy-fetch.js";

describe("fetchPolicyText bounds", () => {
  it("gives up on a policy host whose resolution outlasts the time limit, without connecting", async () => {
    let checked = 0;
    const started = performance.now();
    const r = await fetchPolicyText("example.test", {
      resolveAddresses: () => new Promise<string[]>(() => undefined),
      checkAddress: () => {
        checked++;
        return undefined;
      },
      timeoutMs: 50,
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toMatch(/the policy host could not be resolved: resolving mta-sts\.example\.test took over 50 ms/);
    expect(r.address).toBe("");
    expect(checked).toBe(0);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("connects nowhere when the target policy forbids every address, and says why", async () => {
    const r = await fetchPolicyText("example.test", {
      resolveAddresses: () => Promise.resolve(["192.0.2.1", "192.0.2.2"]),
      checkAddress: (address) => ({ kind: "deny_list", reason: `${address} is not allowed` }),
      timeoutMs: 1000,
    });
    expect(r).toMatchObject({ ok: false, address: "192.0.2.1", reason: "the target policy forbids every address of mta-sts.example.test: 192.0.2.1 is not allowed" });
  });
});
