// The coordinator's HTTP listener (lib/metrics-server.ts, bound by coordinator.ts): what it serves
// beside /metrics, /healthz and /readyz, in the order asked — the HTTP/JSON API under /v1/, the
// routes of other features, then the page, its assets and /openapi.json.
import openApiDocument from "../../../gen/openapi/openapi.json" with { type: "json" };
import type { HttpRoute } from "../../../lib/metrics-server.js";
import { httpApiRoute, type HttpApiDeps } from "./http-api.js";
import { pageRoute } from "./page-assets.js";

export function coordinatorHttpRoutes(api: HttpApiDeps, more: readonly HttpRoute[] = []): HttpRoute[] {
  return [httpApiRoute(api), ...more, pageRoute({ openApi: JSON.stringify(openApiDocument) })];
}
