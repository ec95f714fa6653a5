// What a request must show before the API acts on it, apart from who calls (http-caller.ts). Pure.
//
// Cross-site request forgery: a request that changes state (every POST) must carry a JSON content
// type — which a cross-site HTML form cannot send, and a cross-site script cannot send without a
// CORS preflight, which the coordinator never answers — and, when the browser says where it comes
// from (Origin, Sec-Fetch-Site), come from the coordinator's own origin. Clients that are not
// browsers send neither header and pass. Bearer tokens are never read from cookies, so a browser
// never adds credentials by itself.
//
// DNS rebinding: a coordinator without caller authentication listens on loopback only; a page of
// another site whose name is made to resolve to 127.0.0.1 would be "same-origin" to the browser,
// so such a coordinator also requires the Host header to name a loopback address.
import type { IncomingHttpHeaders } from "node:http";
import { isLoopbackHost } from "../caller-auth.js";

export type GuardRefusal = { httpStatus: 403 | 415; message: string };

/** For a POST: a JSON body, from the coordinator's own origin when a browser sends it. */
export function checkStateChanging(headers: IncomingHttpHeaders, scheme: "http" | "https"): GuardRefusal | undefined {
  const type = (headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    return { httpStatus: 415, message: `the body must be JSON, sent with content-type: application/json (got ${type === "" ? "none" : JSON.stringify(type.slice(0, 100))})` };
  }
  return checkSameOrigin(headers, scheme);
}

/** For a DELETE (no body): from the coordinator's own origin when a browser sends it. */
export function checkSameOrigin(headers: IncomingHttpHeaders, scheme: "http" | "https"): GuardRefusal | undefined {
  const site = headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    return { httpStatus: 403, message: `cross-site requests are refused (sec-fetch-site: ${site.slice(0, 40)})` };
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    const own = headers.host ? `${scheme}://${headers.host}`.toLowerCase() : undefined;
    if (origin.toLowerCase() !== own) return { httpStatus: 403, message: `requests from another origin are refused (origin: ${origin.slice(0, 200)})` };
  }
  return undefined;
}

/** Without caller authentication: the Host header must name loopback (127.0.0.0/8, ::1, localhost). */
export function checkLoopbackHost(headers: IncomingHttpHeaders): GuardRefusal | undefined {
  const host = headers.host ?? "";
  const name = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host)?.[1] ?? "";
  if (isLoopbackHost(name)) return undefined;
  return {
    httpStatus: 403,
    message: `this coordinator has no caller authentication and answers only requests addressed to loopback (host: ${host.slice(0, 200) || "none"}); use http://127.0.0.1 or http://localhost`,
  };
}
