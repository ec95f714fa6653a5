import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isValidSelector, readDkimKey } from "../../../../agents/posture/dkim-key.js";

const rsa = (bits: number, type: "spki" | "pkcs1" = "spki"): string =>
  generateKeyPairSync("rsa", { modulusLength: bits }).publicKey.export({ type, format: "der" }).toString("base64");
const ed = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" }).subarray(-32).toString("base64");

describe("readDkimKey", () => {
  it.each([
    ["RSA 512", `v=DKIM1; k=rsa; p=${rsa(512)}`, { keyType: "rsa", keyBits: 512, error: "" }],
    ["RSA 1024, no v= or k=", `p=${rsa(1024)}`, { keyType: "rsa", keyBits: 1024 }],
    ["RSA 2048 as RSAPublicKey", `v=DKIM1; p=${rsa(2048, "pkcs1")}`, { keyBits: 2048, error: "" }],
    ["a key split by spaces", `v=DKIM1; p=${rsa(1024).replace(/(.{40})/g, "$1 ")}`, { keyBits: 1024 }],
    ["Ed25519", `v=DKIM1; k=ed25519; p=${ed}`, { keyType: "ed25519", keyBits: 256 }],
    ["revoked", "v=DKIM1; p=", { revoked: true, error: "" }],
    ["test mode", `v=DKIM1; t=y:s; p=${rsa(1024)}`, { testMode: true }],
    ["strict only", `v=DKIM1; t=s; p=${rsa(1024)}`, { testMode: false }],
    ["no p=", "v=DKIM1; k=rsa", { error: "no p= tag: not a DKIM key record" }],
    ["not base64", "v=DKIM1; p=***", { error: "p= is not base64" }],
    ["not a key", "v=DKIM1; p=bm90IGEga2V5", { error: "p= does not hold an RSA public key" }],
    ["Ed25519 of the wrong length", "v=DKIM1; k=ed25519; p=bm90IGEga2V5", { error: "an Ed25519 key is 32 octets, this one 9" }],
    ["unknown k=", "v=DKIM1; k=dsa; p=bm90", { error: "k=dsa: not a key type DKIM defines (rsa, ed25519)" }],
    ["unknown v=", "v=DKIM2; p=bm90", { error: "v=DKIM2: only DKIM1 is defined" }],
  ])("%s", (_, record, expected) => {
    expect(readDkimKey(record)).toMatchObject(expected);
  });
});

describe("isValidSelector", () => {
  it.each([
    ["s1", true],
    ["selector1._x", true],
    ["2024.q1", true],
    ["", false],
    ["a b", false],
    ["-x", false],
    ["a..b", false],
  ])("%s: %s", (selector, valid) => {
    expect(isValidSelector(selector)).toBe(valid);
  });
});
