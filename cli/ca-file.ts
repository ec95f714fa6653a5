import { X509Certificate } from "node:crypto";
import { quote } from "./check-args.js";
import { UsageError } from "./usage-error.js";

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Reads the --ca-file at start-up, so that a wrong path is a usage error before anything is
 * probed rather than a TLS failure in every handshake. Returns the PEM text of its certificates.
 */
export async function readCaFile(path: string, readFile: (path: string) => Promise<string>): Promise<string> {
  let text: string;
  try {
    text = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (code ?? String(error));
    throw new UsageError("--ca-file", `cannot read ${quote(path)}: ${why}`);
  }
  return parseCaPem(path, text);
}

/** Every certificate in the PEM text must parse: a half-broken bundle is better refused than guessed at. */
export function parseCaPem(path: string, text: string): string {
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new UsageError("--ca-file", `${quote(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new UsageError("--ca-file", `${quote(path)}: certificate ${index + 1} of ${blocks.length} does not parse`);
    }
  });
  return `${blocks.join("\n")}\n`;
}
