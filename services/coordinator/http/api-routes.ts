// The HTTP/JSON API's routes: each an RPC of the public API at a resource path, its request and
// answer messages by full name. One table for the router (http-api.ts) and the OpenAPI document
// (scripts/gen-openapi.ts). A new RPC gets its row here and its handler in http-api.ts. The paths
// follow Google's resource conventions (AIP-121, -122, -136): a collection per kind of resource,
// plural, in lowerCamelCase (`domainChecks`); Create as POST on the collection, Get as GET on the
// resource; other RPCs as custom methods `:verb` on their resource (GET when they only read). Pure.

export interface ApiRoute {
  method: "GET" | "POST" | "DELETE";
  /** With `{field}` segments (optionally followed by `:verb`): a field of the request message, by its proto name. */
  path: string;
  /** Fields of the request message a GET takes as query parameters, by their proto names. */
  query?: readonly string[];
  /** A stream's field that resumes it, set from the Last-Event-ID an EventSource sends when it reconnects. */
  resumeField?: string;
  /** The RPC's name in its service. */
  rpc: string;
  service: string;
  /** Full message names: the request (the body of a POST, path fields otherwise) and the answer. */
  request: string;
  response: string;
  /** Streamed as Server-Sent Events when the client asks for text/event-stream: each event's message. */
  events?: string;
  /** Every event's name, when the events' message is not a oneof (whose set field names each event otherwise). */
  eventName?: string;
  /** Only ever answered as Server-Sent Events (a server-streaming RPC without a unary twin). */
  streamOnly?: boolean;
  summary: string;
}

const PROBE_SERVICE = "smtpprobe.v1.ProbeService";
const BATCH_SERVICE = "smtpprobe.v1.BatchService";
const MONITOR_SERVICE = "smtpprobe.v1.MonitorService";

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
    path: "/v1/domainChecks",
    rpc: "CheckDomain",
    service: PROBE_SERVICE,
    request: "smtpprobe.v1.DomainCheckRequest",
    response: "smtpprobe.v1.DomainCheckReport",
    events: "smtpprobe.v1.DomainCheckEvent",
    summary:
      "Check a mail domain's published posture (SPF, DMARC, DKIM, MX, blocklists) from the regions named. The report when every region has answered or the deadline passed; with `Accept: text/event-stream`, the events as they happen (CheckDomain's stream): accepted, posture, report.",
  },
  {
    method: "GET",
    path: "/v1/domainChecks/{check_id}",
    rpc: "GetDomainCheck",
    service: PROBE_SERVICE,
    request: "smtpprobe.v1.GetDomainCheckRequest",
    response: "smtpprobe.v1.DomainCheckReport",
    summary: "A stored domain check by its id.",
  },
  {
    method: "POST",
    path: "/v1/batches",
    rpc: "CreateBatch",
    service: BATCH_SERVICE,
    request: "smtpprobe.v1.CreateBatchRequest",
    response: "smtpprobe.v1.Batch",
    summary: "Check every target, queue the batch, and answer it (state RUNNING) with its id. Needs a coordinator with JetStream.",
  },
  {
    method: "GET",
    path: "/v1/batches/{batch_id}",
    rpc: "GetBatch",
    service: BATCH_SERVICE,
    request: "smtpprobe.v1.GetBatchRequest",
    response: "smtpprobe.v1.Batch",
    summary: "A batch's progress.",
  },
  {
    method: "GET",
    path: "/v1/batches/{batch_id}:watch",
    query: ["after_sequence"],
    resumeField: "after_sequence",
    rpc: "WatchBatch",
    service: BATCH_SERVICE,
    request: "smtpprobe.v1.WatchBatchRequest",
    response: "smtpprobe.v1.BatchEvent",
    events: "smtpprobe.v1.BatchEvent",
    streamOnly: true,
    summary:
      "Each item's report as it lands, with progress, until every item has one, always as Server-Sent Events: progress and item events, an item's event id its sequence. Resumes after `after_sequence`, or after the `Last-Event-ID` an EventSource sends when it reconnects.",
  },
  {
    method: "POST",
    path: "/v1/batches/{batch_id}:cancel",
    rpc: "CancelBatch",
    service: BATCH_SERVICE,
    request: "smtpprobe.v1.CancelBatchRequest",
    response: "smtpprobe.v1.Batch",
    summary: "Cancel a batch: items not yet probed are reported CANCELLED without a probe; those running finish. The body is `{}`.",
  },
  {
    method: "POST",
    path: "/v1/monitors",
    rpc: "CreateMonitor",
    service: MONITOR_SERVICE,
    request: "smtpprobe.v1.CreateMonitorRequest",
    response: "smtpprobe.v1.Monitor",
    summary: "Create a monitor: the probe repeated every `intervalSeconds`, each run an event, optionally POSTed (signed) to a webhook when a verdict changed. Needs a coordinator with JetStream.",
  },
  {
    method: "GET",
    path: "/v1/monitors",
    query: ["page_size", "page_token"],
    rpc: "ListMonitors",
    service: MONITOR_SERVICE,
    request: "smtpprobe.v1.ListMonitorsRequest",
    response: "smtpprobe.v1.ListMonitorsResponse",
    summary: "The caller's monitors in id order, `page_size` (default 100, at most 1000) at a time; `nextPageToken` as `page_token` gives the next page.",
  },
  {
    method: "GET",
    path: "/v1/monitors/{monitor_id}",
    rpc: "GetMonitor",
    service: MONITOR_SERVICE,
    request: "smtpprobe.v1.GetMonitorRequest",
    response: "smtpprobe.v1.Monitor",
    summary: "A monitor by its id (the webhook's secret is never returned).",
  },
  {
    method: "DELETE",
    path: "/v1/monitors/{monitor_id}",
    rpc: "DeleteMonitor",
    service: MONITOR_SERVICE,
    request: "smtpprobe.v1.DeleteMonitorRequest",
    response: "smtpprobe.v1.Monitor",
    summary: "Delete a monitor: no run after this one; the monitor as it was is the answer.",
  },
  {
    method: "GET",
    path: "/v1/monitors/{monitor_id}:watch",
    query: ["changes_only", "after_run", "from_oldest"],
    resumeField: "after_run",
    rpc: "WatchMonitor",
    service: MONITOR_SERVICE,
    request: "smtpprobe.v1.WatchMonitorRequest",
    response: "smtpprobe.v1.MonitorEvent",
    events: "smtpprobe.v1.MonitorEvent",
    eventName: "run",
    streamOnly: true,
    summary:
      "Each run of the monitor from now on, as it ends, always as Server-Sent Events named `run`, the event id the run's number (with `changes_only`, the runs that changed a verdict or a region's fact). Runs are kept a week: with `after_run`, or the `Last-Event-ID` an EventSource sends when it reconnects, first the kept runs after that one, in order, then new ones; with `from_oldest`, every kept run first.",
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
      const m = /^\{([a-z_]+)\}(:[a-zA-Z]+)?$/.exec(segment);
      if (!m) return escape(segment);
      names.push(m[1]!);
      // A field's value never holds ':', so that `{id}` and `{id}:verb` are told apart.
      return `([^/:]+)${m[2] ? escape(m[2]) : ""}`;
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

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
