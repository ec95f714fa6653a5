// The page (web/, bundled by scripts/build.js into dist/page/) and the OpenAPI document, served by
// the coordinator itself: `/` and `/p/<probe id>` (a shared report) are the page, `/assets/*` its
// script and style, `/openapi.json` the API's description. Every file is read once, compressed once
// and answered from memory with an ETag; nothing is loaded from another host. The build has
// compressed the page's files already (name.br, name.gz beside each: brotli's best level takes a
// few hundred milliseconds for the script, which neither a start nor a request should pay); what
// has no such file is compressed on first use, in the thread pool.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";
import type { HttpRoute } from "../../../lib/metrics-server.js";
import { packagePath } from "../../../lib/package-root.js";
import { SECURITY_HEADERS } from "./security-headers.js";

interface Asset {
  type: string;
  identity: Buffer;
  gzip: Buffer;
  br: Buffer;
  etag: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** The page's files: the repository's dist/page/, or page/ beside the compiled code (the image). */
export function pageFolder(): string | undefined {
  return [packagePath("dist/page"), packagePath("page")].find((dir) => existsSync(join(dir, "index.html")));
}

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** An asset of `content`; its compressed forms as given, else made here. */
export async function makeAsset(name: string, content: Buffer, compressed: { br?: Buffer; gzip?: Buffer } = {}): Promise<Asset> {
  const extension = /\.[a-z]+$/.exec(name)?.[0] ?? "";
  const [br, gzipped] = await Promise.all([
    compressed.br ?? brotliAsync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_SIZE_HINT]: content.length } }),
    compressed.gzip ?? gzipAsync(content, { level: 9 }),
  ]);
  return {
    type: TYPES[extension] ?? "application/octet-stream",
    identity: content,
    gzip: gzipped,
    br,
    etag: `"${createHash("sha256").update(content).digest("base64url").slice(0, 22)}"`,
  };
}

/** A file of the page's folder with the compressed copies the build wrote beside it. */
function readAsset(folder: string, name: string): Promise<Asset> {
  const file = join(folder, name);
  const copy = (suffix: string): Buffer | undefined => (existsSync(`${file}${suffix}`) ? readFileSync(`${file}${suffix}`) : undefined);
  return makeAsset(name, readFileSync(file), { br: copy(".br"), gzip: copy(".gz") });
}

/** A probe id in a share link: what GetProbe accepts (the page asks it). */
const SHARE_PATH = /^\/p\/[0-9a-f-]{36}\/?$/;
const ASSET_PATH = /^\/assets\/([a-z0-9-]+\.(?:js|css|svg|png))$/;

/**
 * `openApi`: the OpenAPI document's text. Without the page's folder (dist/ not built) `/` says how
 * to build it.
 */
export function pageRoute(options: { folder?: string; openApi: string }): HttpRoute {
  let folder: string | undefined | null = options.folder;
  const assets = new Map<string, Promise<Asset> | null>();
  /** Read at its first request, then kept; null when the page's folder has no such file. */
  const assetOf = (name: string): Promise<Asset> | null => {
    let asset = assets.get(name);
    if (asset === undefined) {
      folder ??= pageFolder() ?? null;
      if (name === "openapi.json") asset = makeAsset(name, Buffer.from(options.openApi));
      else asset = folder && existsSync(join(folder, name)) ? readAsset(folder, name) : null;
      assets.set(name, asset);
    }
    return asset;
  };

  return (request, response, path) => {
    let name: string | undefined;
    if (path === "/" || SHARE_PATH.test(path)) name = "index.html";
    else if (path === "/openapi.json") name = "openapi.json";
    else name = ASSET_PATH.exec(path)?.[1];
    if (name === undefined) return false;
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD", ...SECURITY_HEADERS }).end();
      return true;
    }
    const asset = assetOf(name);
    if (!asset) {
      const text = name === "index.html" ? "the page is not built: run npm run build\n" : "not found\n";
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS }).end(text);
      return true;
    }
    void asset.then((ready) => sendAsset(request, response, ready));
    return true;
  };
}

function sendAsset(request: IncomingMessage, response: ServerResponse, asset: Asset): void {
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    "content-type": asset.type,
    etag: asset.etag,
    // Revalidated each time (a 304 on loopback costs nothing), so a new build is seen at once.
    "cache-control": "no-cache",
    vary: "accept-encoding",
  };
  if (request.headers["if-none-match"] === asset.etag) {
    response.writeHead(304, headers).end();
    return;
  }
  const accepted = request.headers["accept-encoding"] ?? "";
  const [encoding, body] = /\bbr\b/.test(accepted) ? ["br", asset.br] : /\bgzip\b/.test(accepted) ? ["gzip", asset.gzip] : [undefined, asset.identity];
  if (encoding) headers["content-encoding"] = encoding;
  headers["content-length"] = String(body.length);
  response.writeHead(200, headers);
  response.end(request.method === "HEAD" ? undefined : body);
}
