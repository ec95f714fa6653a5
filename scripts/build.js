#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` runs it): compiles the TypeScript of the processes
// into dist/, one JavaScript module per source module, in the same layout (dist/cli/main.js,
// dist/lib/..., dist/gen/...), so that what runs is plain JavaScript with no compiler at start-up.
//
// esbuild only strips types (about a second for the whole tree); `npm run typecheck` (tsc) is what
// checks them. The tree is written to a fresh folder first and then put in place of dist/, so a
// module deleted from the sources never lingers in dist/, and a failed build leaves the old one.
//
// Without esbuild (a production install, `npm ci --omit=dev`) an existing dist/ is kept as it is.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");
/** What runs compiled: tsconfig.build.json's include, the one list of it. */
const SOURCES = JSON.parse(readFileSync(join(ROOT, "tsconfig.build.json"), "utf8")).include;

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  if (existsSync(join(DIST, "cli", "main.js"))) process.exit(0);
  console.error("smtp-probe build: esbuild is not installed and dist/ is not built; install the dev dependencies (npm ci) and run npm run build");
  process.exit(1);
}

/** The .ts files (not .d.ts) under each path of `include`, a file or a folder. */
function sourceFiles(paths) {
  const files = [];
  const walk = (path) => {
    if (statSync(path).isDirectory()) for (const entry of readdirSync(path).sort()) walk(join(path, entry));
    else if (path.endsWith(".ts") && !path.endsWith(".d.ts")) files.push(path);
  };
  for (const path of paths) walk(join(ROOT, path));
  return files;
}

const staging = join(ROOT, ".tmp", `dist-${process.pid}`);
rmSync(staging, { recursive: true, force: true });
try {
  await esbuild.build({
    entryPoints: sourceFiles(SOURCES),
    outdir: staging,
    outbase: ROOT,
    format: "esm",
    platform: "node",
    target: "node20",
    tsconfig: join(ROOT, "tsconfig.build.json"),
    logLevel: "warning",
  });
} catch {
  // esbuild has printed the errors.
  rmSync(staging, { recursive: true, force: true });
  process.exit(1);
}
const previous = `${staging}-old`;
if (existsSync(DIST)) renameSync(DIST, previous);
renameSync(staging, DIST);
rmSync(previous, { recursive: true, force: true });
if (!process.argv.includes("--quiet")) console.error(`smtp-probe build: ${relative(process.cwd(), DIST) || "."} written`);
