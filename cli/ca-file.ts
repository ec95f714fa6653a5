import { checkCaPem } from "../lib/ca-pem.js";
import { quote } from "./check-args.js";
import { UsageError } from "./usage-error.js";

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
  const checked = checkCaPem(text);
  if ("problem" in checked) {
    throw new UsageError("--ca-file", checked.problem.startsWith("holds") ? `${quote(path)} ${checked.problem}` : `${quote(path)}: ${checked.problem}`);
  }
  return checked.pem;
}
