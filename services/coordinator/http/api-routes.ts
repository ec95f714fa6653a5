// The HTTP/JSON API's routes: each an RPC of the public API at a resource path, its request and
// answer messages by full name. One table for the router (http-api.ts) and the OpenAPI document
// (scripts/gen-openapi.ts). A new RPC gets its row here and its handler in http-api.ts; batches and
// monitors follow the same pattern (`POST /v1/batches`, `GET /v1/batches/{batch_id}`, ...). Pure.

export interface ApiRoute {
  method: "GET" | "POST" | "DELETE";
  /** With `{field}` segments: a field of the request message, by its proto name. */
  path: string;
  /** The RPC's name in its service. */
  rpc: string;
  service: string;
  /** Full message names: the request (the body of a POST, path fields otherwise) and the answer. */
  request: string;
  response: string;
  /** Streamed as Server-Sent Events when the client asks for text/event-stream: each event's message. */
  events?: string;
  summary: string;
}

const PROBE_SERVICE = "smtpprobe.v1.ProbeService";

export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: "POST",
    path: "/v1/probes",
    rpc: "Probe",
    service: PROBE_SERVICE,
    request: "smtpprobe.v1.ProbeRequest",
    response: "smtpprobe.v1.ProbeReport",
    events: "smtpprobe.v1.ProbeEvent",
    summary:
      "Probe a host (or, with mx, a mail domain) from the regions named. The report when every task has ended (Probe); with `Accept: text/event-stream`, the events as they happen (StreamProbe): accepted, progress, task, report.",
  },
  {
    method: "GET",
    path: "/v1/probes/{probe_id}",
    rpc: "GetProbe",
    service: PROBE_SERVICE,
    request: "smtpprobe.v1.GetProbeRequest",
    response: "smtpprobe.v1.ProbeReport",
    summary: "A stored report by its probe id.",
  },
  {
    method: "GET",
    path: "/v1/regions",
    rpc: "ListRegions",
    service: PROBE_SERVICE,
    request: "smtpprobe.v1.ListRegionsRequest",
    response: "smtpprobe.v1.ListRegionsResponse",
    summary: "The regions with live agents, and each agent's state.",
  },
  {
    method: "POST",
    path: "/v1/domain-checks",
    rpc: "CheckDomain",
    service: PROBE_SERVICE,
    request: "smtpprobe.v1.DomainCheckRequest",
    response: "smtpprobe.v1.DomainCheckReport",
    events: "smtpprobe.v1.DomainCheckEvent",
    summary:
      "Check a mail domain's published posture (MX, SPF, DMARC, DKIM, reverse DNS, blocklists) from the regions named; only DNS is asked. The report; with `Accept: text/event-stream`, the events: accepted, each region's posture, report.",
  },
  {
    method: "GET",
    path: "/v1/domain-checks/{check_id}",
    rpc: "GetDomainCheck",
    service: PROBE_SERVICE,
    request: "smtpprobe.v1.GetDomainCheckRequest",
    response: "smtpprobe.v1.DomainCheckReport",
    summary: "A stored domain check by its id.",
  },
];

export interface RouteMatch {
  route: ApiRoute;
  /** The `{field}` segments' values, decoded. */
  params: Record<string, string>;
}

interface Compiled {
  route: ApiRoute;
  pattern: RegExp;
  names: string[];
}

function compile(route: ApiRoute): Compiled {
  const names: string[] = [];
  const source = route.path
    .split("/")
    .map((segment) => {
      const m = /^\{([a-z_]+)\}$/.exec(segment);
      if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(m[1]!);
      return "([^/]+)";
    })
    .join("/");
  return { route, pattern: new RegExp(`^${source}/?$`), names };
}

/** Finds the routes of a path: `match` for the method asked, `allowed` the methods the path has. */
export function routeMatcher(routes: readonly ApiRoute[]): (method: string, path: string) => { match?: RouteMatch; allowed: string[] } {
  const compiled = routes.map(compile);
  return (method, path) => {
    const allowed: string[] = [];
    let match: RouteMatch | undefined;
    for (const c of compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      allowed.push(c.route.method);
      if (c.route.method !== method || match) continue;
      const params: Record<string, string> = {};
      c.names.forEach((name, index) => {
        params[name] = safeDecode(m[index + 1] ?? "");
      });
      match = { route: c.route, params };
    }
    return { match, allowed };
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
