// The page's calls to the coordinator's HTTP/JSON API (same origin): the JSON read with the
// generated code's fromJSON, errors as google.rpc.Status turned into ApiError, a probe's events read
// from its Server-Sent Events stream. A bearer token, when the coordinator asks for one, is kept in
// this tab's sessionStorage and sent as a header; it never goes into a URL.
import { ListRegionsResponse, ProbeEvent, ProbeReport } from "../gen/smtpprobe/v1/probe_service.js";
import type { FieldProblem } from "./field-errors.js";
import { SseParser } from "./sse-parser.js";

const TOKEN_KEY = "smtp-probe.token";

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly httpStatus: number,
    /** The gRPC code of the Status (3 INVALID_ARGUMENT, 16 UNAUTHENTICATED, ...). */
    readonly code: number,
    message: string,
    /** BadRequest's field violations, and a policy refusal's field (ErrorInfo metadata.field). */
    readonly problems: FieldProblem[],
    /** Retry-After, in seconds, when the answer had one. */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

export function savedToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function saveToken(token: string): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (private mode): the token is sent as long as the field holds it.
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = savedToken();
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

interface StatusJson {
  code?: number;
  message?: string;
  details?: { "@type"?: string; fieldViolations?: { field?: string; description?: string }[]; metadata?: Record<string, string> }[];
}

/** A google.rpc.Status in JSON as an ApiError. */
export function apiErrorOf(httpStatus: number, status: StatusJson, retryAfter?: string | null): ApiError {
  const problems: FieldProblem[] = [];
  for (const detail of status.details ?? []) {
    const type = detail["@type"] ?? "";
    if (type.endsWith("/google.rpc.BadRequest")) {
      for (const v of detail.fieldViolations ?? []) problems.push({ field: v.field ?? "", description: v.description ?? "" });
    } else if (type.endsWith("/google.rpc.ErrorInfo") && detail.metadata?.field && problems.length === 0 && status.code === 7) {
      problems.push({ field: detail.metadata.field, description: status.message ?? "" });
    }
  }
  const seconds = retryAfter ? Number(retryAfter) : undefined;
  return new ApiError(httpStatus, status.code ?? 2, status.message || `HTTP ${httpStatus}`, problems, Number.isFinite(seconds) ? seconds : undefined);
}

async function errorOf(response: Response): Promise<ApiError> {
  let status: StatusJson = {};
  try {
    status = (await response.json()) as StatusJson;
  } catch {
    status = { message: `HTTP ${response.status} ${response.statusText}` };
  }
  return apiErrorOf(response.status, status, response.headers.get("retry-after"));
}

async function getJson(path: string): Promise<unknown> {
  const response = await fetch(path, { headers: headers({ accept: "application/json" }) });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export async function listRegions(): Promise<ListRegionsResponse> {
  return ListRegionsResponse.fromJSON(await getJson("/v1/regions"));
}

export async function getProbe(probeId: string): Promise<ProbeReport> {
  return ProbeReport.fromJSON(await getJson(`/v1/probes/${encodeURIComponent(probeId)}`));
}

/** POST /v1/probes as an event stream: each ProbeEvent to onEvent, the final report returned. */
export async function streamProbe(request: unknown, onEvent: (event: ProbeEvent) => void, signal: AbortSignal): Promise<ProbeReport> {
  const response = await fetch("/v1/probes", {
    method: "POST",
    headers: headers({ "content-type": "application/json", accept: "text/event-stream" }),
    body: JSON.stringify(request),
    signal,
  });
  if (!response.ok || !response.body) throw await errorOf(response);
  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    for (const sse of parser.push(value)) {
      const data: unknown = JSON.parse(sse.data);
      if (sse.event === "error") throw apiErrorOf(response.status, data as StatusJson);
      const event = ProbeEvent.fromJSON(data);
      onEvent(event);
      if (event.report) return event.report;
    }
  }
  throw new ApiError(502, 14, "the coordinator ended the stream before the report", []);
}
