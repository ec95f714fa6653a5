#!/usr/bin/env node
// The `smtp-probe` command: the compiled JavaScript in dist/, which `npm ci` builds (the `prepare`
// script) and `npm run build` rebuilds; no TypeScript compiler at run time.
import { existsSync } from "node:fs";
import process from "node:process";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("smtp-probe: dist/ is not built: run npm run build (npm ci runs it too)\n");
  process.exit(70);
}
await import(main.href);
