import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkWebhook, webhookSignature } from "../../../../../services/coordinator/monitor/webhook.js";

describe("webhookSignature", () => {
  it("is the HMAC-SHA256 of the timestamp and the body, with the timestamp", () => {
    const mac = createHmac("sha256", "0123456789abcdef").update('1700000000.{"a":1}').digest("hex");
    expect(webhookSignature("0123456789abcdef", 1_700_000_000, '{"a":1}')).toBe(`t=1700000000,v1=${mac}`);
  });
});

describe("checkWebhook", () => {
  it.each(["https://hooks.example.com/smtp?x=1", "http://192.0.2.10:8080/hook"])("accepts %s", (url) => {
    expect(checkWebhook(url, "0123456789abcdef")).toBeUndefined();
  });

  it.each([
    ["not a url", "0123456789abcdef", "webhook_url", "is not a URL"],
    ["ftp://example.com/x", "0123456789abcdef", "webhook_url", "must be http:// or https://"],
    ["https://user:pw@example.com/", "0123456789abcdef", "webhook_url", "must not hold credentials"],
    ["https://example.com/", "short", "webhook_secret", "must be 16 to 256 characters with webhook_url, got 5"],
    [`https://example.com/${"x".repeat(2100)}`, "0123456789abcdef", "webhook_url", "at most 2048 characters"],
  ])("refuses %j / %j: %s %s", (url, secret, field, description) => {
    expect(checkWebhook(url, secret)).toEqual({ field, description: expect.stringContaining(description) });
  });
});
