// The package's files that are not modules: package.json (the version) and bin/ (the command the
// stack starts). The code runs from the sources (lib/package-root.ts, as the tests run it), compiled
// from dist/ (dist/lib/package-root.js) or, in the image, from /app (/app/lib/package-root.js):
// the package root is the nearest folder above this module that holds a package.json.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The folder of the package's package.json. */
export function packageRoot(): string {
  root ??= findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  return root;
}

/** A file or folder of the package, by its path from the package root ("package.json", "bin/smtp-probe.js"). */
export function packagePath(path: string): string {
  return join(packageRoot(), path);
}

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json in ${from} or any folder above it`);
  }
}
