import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { API_ROUTES, routeMatcher } from "../../../../../services/coordinator/http/api-routes.js";

const match = routeMatcher(API_ROUTES);

describe("routeMatcher", () => {
  it.each<[string, string, string | undefined, Record<string, string>]>([
    ["POST", "/v1/probes", "Probe", {}],
    ["GET", "/v1/probes/0b7c5a52-2f4e-4d43-9a43-3f5b0c1e2d3a", "GetProbe", { probe_id: "0b7c5a52-2f4e-4d43-9a43-3f5b0c1e2d3a" }],
    ["GET", "/v1/probes/a%20b", "GetProbe", { probe_id: "a b" }],
    ["GET", "/v1/regions", "ListRegions", {}],
    ["GET", "/v1/regions/", "ListRegions", {}],
    ["GET", "/v1/probes", undefined, {}],
    ["GET", "/v1/probes/x/y", undefined, {}],
    ["POST", "/v1/domainChecks", "CheckDomain", {}],
    ["GET", "/v1/domainChecks/0b7c5a52-2f4e-4d43-9a43-3f5b0c1e2d3a", "GetDomainCheck", { check_id: "0b7c5a52-2f4e-4d43-9a43-3f5b0c1e2d3a" }],
    ["POST", "/v1/batches", "CreateBatch", {}],
    ["GET", "/v1/batches/b1", "GetBatch", { batch_id: "b1" }],
    ["GET", "/v1/batches/b1:watch", "WatchBatch", { batch_id: "b1" }],
    ["POST", "/v1/batches/b1:cancel", "CancelBatch", { batch_id: "b1" }],
    ["POST", "/v1/batches/b1", undefined, {}],
    ["GET", "/v1/batches/b1:other", undefined, {}],
    ["GET", "/v1/batches/:watch", undefined, {}],
  ])("%s %s → %s", (method, path, rpc, params) => {
    const found = match(method, path);
    expect(found.match?.route.rpc).toBe(rpc);
    if (rpc) expect(found.match?.params).toEqual(params);
  });

  it("says which methods a path has, for 405", () => {
    expect(match("DELETE", "/v1/probes")).toEqual({ match: undefined, allowed: ["POST"] });
    expect(match("GET", "/v1/nothing").allowed).toEqual([]);
    expect(match("GET", "/v1/batches/b1:cancel")).toEqual({ match: undefined, allowed: ["POST"] });
    expect(match("DELETE", "/v1/batches")).toEqual({ match: undefined, allowed: ["POST"] });
  });
});

describe("the OpenAPI document (gen/openapi/openapi.json)", () => {
  const document = JSON.parse(readFileSync(new URL("../../../../../gen/openapi/openapi.json", import.meta.url), "utf8")) as { paths: Record<string, Record<string, { operationId: string }>> };

  it("describes every route, and only them (npm run gen after a change)", () => {
    const described = Object.entries(document.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`));
    expect(described.sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.path} ${r.rpc}`).sort());
  });
});
