import { describe, expect, it } from "vitest";
import { parseCaPem, readCaFile } from "../../../cli/ca-file.js";
import { UsageError } from "../../../cli/usage-error.js";

const enoent = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });

describe("readCaFile", () => {
  it("names the flag and the path when the file cannot be read", async () => {
    const read = () => Promise.reject(enoent);
    await expect(readCaFile("/no/ca.pem", read)).rejects.toThrow('--ca-file: cannot read "/no/ca.pem": no such file');
    await expect(readCaFile("/no/ca.pem", read)).rejects.toBeInstanceOf(UsageError);
  });

  it("refuses a file without a PEM certificate", async () => {
    await expect(readCaFile("key.pem", () => Promise.resolve("-----BEGIN PRIVATE KEY-----\n"))).rejects.toThrow(
      '--ca-file: "key.pem" holds no PEM certificate',
    );
  });
});

describe("parseCaPem", () => {
  it("refuses a certificate block that does not parse", () => {
    const broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    expect(() => parseCaPem("ca.pem", broken)).toThrow('--ca-file: "ca.pem": certificate 1 of 1 does not parse');
  });
});
