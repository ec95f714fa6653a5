#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` runs it): compiles the TypeScript of the command into
// dist/, so that what runs is plain JavaScript with no compiler at start-up.
//
// esbuild bundles each entry point (dist/cli/main.js, the `smtp-probe` command; dist/scripts/stack.js,
// `npm run stack`; dist/scripts/demo.js, `npm run demo`, and dist/scripts/lab/smtp-target.js, the
// SMTP server the demo starts in a namespace) with what it imports, split at the dynamic imports
// (dist/chunks/): a command loads a few files instead of a few hundred modules, and only the chunks
// its action imports.
// Bundled too, tree-shaken: the small pure packages (commander, picocolors, @bufbuild/protobuf's
// wire format). Left to node_modules: the packages that only the long-running commands and the
// coordinator's client load, each in its own chunk's imports (gRPC, NATS, pino, prom-client), and
// @opentelemetry/api, which must be the one instance an OpenTelemetry SDK registers with; and the
// demo's dev dependencies (smtp-server, selfsigned), which `npm ci` installs.
//
// esbuild only strips types (about a second); `npm run typecheck` (tsc) is what checks them. The
// tree is written to a fresh folder first and then put in place of dist/, so nothing of an older
// build lingers, and a failed build leaves the previous one. Without esbuild (a production install,
// `npm ci --omit=dev`) an existing dist/ is kept as it is.
import { existsSync, renameSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");
const ENTRY_POINTS = ["cli/main.ts", "scripts/stack.ts", "scripts/demo.ts", "scripts/lab/smtp-target.ts"];
const EXTERNAL = ["@grpc/*", "grpc-health-check", "nats", "pino", "prom-client", "@opentelemetry/api", "smtp-server", "selfsigned"];
// The bundled CommonJS packages (commander, picocolors) call require() for node's modules, which
// an ES module does not have: each output file gets one.
const REQUIRE_SHIM = 'import { createRequire as __smtpProbeCreateRequire } from "node:module"; const require = __smtpProbeCreateRequire(import.meta.url);';

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  if (existsSync(join(DIST, "cli", "main.js"))) process.exit(0);
  console.error("smtp-probe build: esbuild is not installed and dist/ is not built; install the dev dependencies (npm ci) and run npm run build");
  process.exit(1);
}

const staging = join(ROOT, ".tmp", `dist-${process.pid}`);
rmSync(staging, { recursive: true, force: true });
try {
  await esbuild.build({
    entryPoints: ENTRY_POINTS.map((entry) => join(ROOT, entry)),
    outdir: staging,
    outbase: ROOT,
    bundle: true,
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    format: "esm",
    platform: "node",
    target: "node20",
    external: EXTERNAL,
    banner: { js: REQUIRE_SHIM },
    // For `node --enable-source-maps`: stack traces in the TypeScript sources.
    sourcemap: "linked",
    sourcesContent: false,
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
