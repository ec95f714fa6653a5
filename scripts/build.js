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
// The web page the coordinator serves (web/) is bundled too, for browsers: dist/page/app.js (minified,
// with the generated messages and the CLI's pure view code it shares), style.css, index.html and
// the icon, each with its brotli and gzip copy (.br, .gz), which the coordinator serves from
// dist/page/ (services/coordinator/http/page-assets.ts).
//
// esbuild only strips types (about a second); `npm run typecheck` (tsc) is what checks them. The
// tree is written to a fresh folder first and then put in place of dist/, so nothing of an older
// build lingers, and a failed build leaves the previous one. Without esbuild (a production install,
// `npm ci --omit=dev`) an existing dist/ is kept as it is.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
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
  await buildPage(join(staging, "page"));
} catch {
  // esbuild has printed the errors.
  rmSync(staging, { recursive: true, force: true });
  process.exit(1);
}
/** The page: its script and style minified, its HTML and icon copied. */
async function buildPage(out) {
  await esbuild.build({
    entryPoints: { app: join(ROOT, "web", "main.ts"), style: join(ROOT, "web", "style.css") },
    outdir: out,
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: ["es2022", "chrome110", "firefox110", "safari16"],
    // The report's cells are built by code the coordinator shares; the one Node module it asks
    // (isIP) has a small stand-in.
    alias: { "node:net": join(ROOT, "web", "shims", "node-net.ts") },
    define: { "process.env.BUF_BIGINT_DISABLE": "undefined" },
    legalComments: "none",
    tsconfig: join(ROOT, "tsconfig.json"),
    logLevel: "warning",
  });
  mkdirSync(out, { recursive: true });
  for (const file of ["index.html", "icon.svg"]) copyFileSync(join(ROOT, "web", file), join(out, file));
  // Compressed once here, at the best levels, so that the coordinator serves them as they are.
  for (const file of readdirSync(out)) {
    const content = readFileSync(join(out, file));
    writeFileSync(join(out, `${file}.br`), brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
    writeFileSync(join(out, `${file}.gz`), gzipSync(content, { level: 9 }));
  }
}

const previous = `${staging}-old`;
if (existsSync(DIST)) renameSync(DIST, previous);
renameSync(staging, DIST);
rmSync(previous, { recursive: true, force: true });
if (!process.argv.includes("--quiet")) console.error(`smtp-probe build: ${relative(process.cwd(), DIST) || "."} written`);
