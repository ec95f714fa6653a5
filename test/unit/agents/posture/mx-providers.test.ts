import { describe, expect, it } from "vitest";
import { mxProvider, sharedProvider } from "../../../../agents/posture/mx-providers.js";

describe("mxProvider", () => {
  it.each([
    ["aspmx.l.google.com", "Google Workspace"],
    ["ALT1.ASPMX.L.GOOGLE.COM.", "Google Workspace"],
    ["example-com.mail.protection.outlook.com", "Microsoft 365"],
    ["mxa-001.pphosted.com", "Proofpoint"],
    ["in1-smtp.messagingengine.com", "Fastmail"],
    ["notgoogle.com", ""],
    ["google.com.example.net", ""],
    ["mx.example.com", ""],
  ])("%s → %s", (exchange, provider) => {
    expect(mxProvider(exchange)).toBe(provider);
  });

  it("names a provider only when every exchanger shares it", () => {
    expect(sharedProvider(["Google Workspace", "Google Workspace"])).toBe("Google Workspace");
    expect(sharedProvider(["Google Workspace", ""])).toBe("");
    expect(sharedProvider([])).toBe("");
  });
});
