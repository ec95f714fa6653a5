// The HTTP/JSON API end to end, against embedded coordinators started in this process with their
// HTTP listener on a free port of 127.0.0.1: one without authentication, one with bearer tokens
// and small quotas, one over TLS with mutual TLS. Targets: an smtp-server fixture (a full
// handshake), a closed port (a probe ends at once), a server that accepts and never speaks (a
// probe held). Every answer is read with the generated code: reports and events with fromJSON,
// errors as google.rpc.Status with their details.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequest, ErrorInfo, QuotaFailure, ResourceInfo } from "../../../../gen/google/rpc/error_details.js";
import { Status } from "../../../../gen/google/rpc/status.js";
import { Outcome } from "../../../../gen/smtpprobe/v1/handshake.js";
import { ListRegionsResponse, ProbeEvent, ProbeReport, TaskStatus } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { listRegionsJson, probeEventJson, probeReportJson } from "../../../../lib/proto-json.js";
import { silentLogger } from "../../../../lib/logger.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { CONTENT_SECURITY_POLICY } from "../../../../services/coordinator/http/security-headers.js";
import { testPki, type PemPair } from "../../../helpers/certs.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { freePort } from "../../../helpers/free-port.js";
import { connectProbeApi } from "../../../helpers/grpc-client.js";
import { fetchHttp, postJson, sseEvents, type HttpAnswer } from "../../../helpers/http-client.js";
import { startSilentServer, type SilentServer } from "../../../helpers/silent-server.js";
import { startSmtpFixture, type SmtpFixture } from "../../../helpers/smtp-fixture.js";

const TOKEN = "http-api-token-of-ci-bot-0123";
const QUOTA_TOKEN = "http-api-token-of-quota-bot-456";
const PER_MINUTE = 3;

let fixture: SmtpFixture;
let silent: SilentServer;
let closedPort: number;
let open: RunningCoordinator;
let tokens: RunningCoordinator;
let mtls: RunningCoordinator;
let ca: PemPair;
let client: PemPair;
let stranger: PemPair;

const base = (c: RunningCoordinator): string => `${c.http!.scheme}://127.0.0.1:${c.http!.port}`;
const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** A Status answer, decoded by the generated code, with its details by type. */
function statusOf(answer: HttpAnswer): { status: Status; details: Record<string, unknown>[] } {
  expect(answer.headers["content-type"]).toBe("application/json; charset=utf-8");
  const body = answer.json() as { details?: Record<string, unknown>[] };
  return { status: Status.fromJSON(body), details: body.details ?? [] };
}

function detail(details: Record<string, unknown>[], type: string): Record<string, unknown> {
  const found = details.find((d) => d["@type"] === `type.googleapis.com/google.rpc.${type}`);
  if (!found) throw new Error(`no ${type} among ${JSON.stringify(details)}`);
  return found;
}

/**
 * The JSON is the proto JSON mapping, exactly: the generated code reads it, and writing what it
 * read in the mapping (lib/proto-json.ts) gives it back — a lossless round trip.
 */
function decodeReport(json: unknown): ProbeReport {
  const report = ProbeReport.fromJSON(json);
  expect(probeReportJson(report)).toEqual(json);
  return report;
}

beforeAll(async () => {
  const pki = await testPki();
  ca = pki.ca;
  const server = await pki.leaf({ names: ["localhost", "127.0.0.1"] });
  client = await pki.leaf({ names: ["ci-client"], clientAuth: true });
  stranger = await pki.leaf({ names: ["intruder"], clientAuth: true, selfSigned: true });
  fixture = await startSmtpFixture();
  silent = await startSilentServer();
  closedPort = await freePort();
  const ports = [fixture.port, silent.port, closedPort];
  const http = { host: "127.0.0.1", port: 0 };
  [open, tokens, mtls] = await Promise.all([
    startCoordinator(testCoordinatorConfig(ports, { http }), silentLogger()),
    startCoordinator(
      testCoordinatorConfig(ports, {
        http,
        auth: { tokens: new Map([[TOKEN, "ci-bot"], [QUOTA_TOKEN, "quota-bot"]]) },
        quotas: { callerExecutionsPerMinute: PER_MINUTE, callerExecutionsInFlight: 0, maxExecutionsInFlight: 0 },
      }),
      silentLogger(),
    ),
    startCoordinator(testCoordinatorConfig(ports, { http, auth: { tls: { certPem: server.certPem, keyPem: server.keyPem, clientCaPem: ca.certPem } } }), silentLogger()),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([open, tokens, mtls].map((c) => c?.stop(1_000)));
  await fixture?.stop();
  await silent?.stop();
});

describe("the routes", () => {
  it("GET /v1/regions: ListRegionsResponse in the JSON mapping", async () => {
    const answer = await fetchHttp(`${base(open)}/v1/regions`);
    expect(answer.status).toBe(200);
    const json = answer.json();
    const regions = ListRegionsResponse.fromJSON(json);
    expect(listRegionsJson(regions)).toEqual(json);
    expect(regions.regions.map((r) => r.name)).toEqual(["local"]);
    expect(answer.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
  });

  it("POST /v1/probes: the report of a full handshake, the same as GetProbe's over gRPC and over HTTP", async () => {
    const answer = await postJson(`${base(open)}/v1/probes`, { host: "127.0.0.1", ports: [fixture.port] });
    expect(answer.status, answer.text).toBe(200);
    const report = decodeReport(answer.json());
    expect(report.tasks).toHaveLength(1);
    expect(report.tasks[0]?.status).toBe(TaskStatus.TASK_STATUS_DONE);
    const handshake = report.tasks[0]?.result?.handshakes[0];
    expect(handshake?.outcome).toBe(Outcome.OUTCOME_OK);
    expect(handshake?.tls?.chain.length).toBeGreaterThan(0);
    expect(handshake?.transcript?.entries.length).toBeGreaterThan(5);

    const stored = await fetchHttp(`${base(open)}/v1/probes/${report.probeId}`);
    expect(stored.status).toBe(200);
    expect(decodeReport(stored.json())).toEqual(report);
    const api = connectProbeApi(`127.0.0.1:${open.port}`);
    try {
      expect(probeReportJson(await api.getProbe(report.probeId))).toEqual(answer.json());
    } finally {
      api.close();
    }
  });

  it("POST /v1/probes with Accept: text/event-stream: accepted, progress and tasks as they land, then the report", async () => {
    const arrivals: { event: string; atMs: number }[] = [];
    const answer = await postJson(`${base(open)}/v1/probes`, { host: "127.0.0.1", ports: [fixture.port, closedPort] }, { headers: { accept: "text/event-stream" }, onEvent: (e, atMs) => arrivals.push({ event: e.event, atMs }) });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    const events = sseEvents(answer.text);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe("accepted");
    expect(names.at(-1)).toBe("report");
    expect(names.filter((n) => n === "task")).toHaveLength(2);
    expect(names.indexOf("progress")).toBeGreaterThan(0);
    expect(names.slice(1, -1).every((n) => n === "progress" || n === "task")).toBe(true);
    const decoded = events.map((e) => {
      const json = JSON.parse(e.data) as unknown;
      const event = ProbeEvent.fromJSON(json);
      expect(probeEventJson(event)).toEqual(json);
      // The event's name is the field that is set.
      expect(Object.keys(json as object)).toEqual([e.event]);
      return event;
    });
    const report = decoded.at(-1)!.report!;
    expect(report.probeId).toBe(decoded[0]!.accepted!.probeId);
    // The closed port's task lands before the handshake's: they arrive as they happen, not at the end.
    expect(arrivals.find((a) => a.event === "task")!.atMs).toBeLessThan(arrivals.at(-1)!.atMs);
  });

  it("GET /v1/probes/{id}: NOT_FOUND 404 with ResourceInfo; a malformed id INVALID_ARGUMENT 400", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    const missing = await fetchHttp(`${base(open)}/v1/probes/${id}`);
    expect(missing.status).toBe(404);
    const { status: s, details } = statusOf(missing);
    expect(s.code).toBe(status.NOT_FOUND);
    expect(ResourceInfo.fromJSON(detail(details, "ResourceInfo"))).toMatchObject({ resourceType: "smtpprobe.v1.ProbeReport", resourceName: id });
    const malformed = await fetchHttp(`${base(open)}/v1/probes/not-an-id`);
    expect(malformed.status).toBe(400);
    expect(BadRequest.fromJSON(detail(statusOf(malformed).details, "BadRequest")).fieldViolations[0]?.field).toBe("probe_id");
  });

  it("/openapi.json, the page, a share link, and /metrics, /healthz, /readyz beside them", async () => {
    const openapi = await fetchHttp(`${base(open)}/openapi.json`);
    expect(openapi.status).toBe(200);
    expect((openapi.json() as { paths: Record<string, unknown> }).paths["/v1/probes"]).toBeDefined();
    for (const path of ["/", "/p/00000000-0000-4000-8000-000000000000"]) {
      const page = await fetchHttp(`${base(open)}${path}`, { headers: { "accept-encoding": "br" } });
      expect(page.status, path).toBe(200);
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(page.headers["content-encoding"]).toBe("br");
      expect(page.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
      expect(page.headers["x-content-type-options"]).toBe("nosniff");
    }
    const script = await fetchHttp(`${base(open)}/assets/app.js`);
    expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    const again = await fetchHttp(`${base(open)}/assets/app.js`, { headers: { "if-none-match": String(script.headers.etag) } });
    expect(again.status).toBe(304);
    expect((await fetchHttp(`${base(open)}/metrics`)).text).toContain("smtpprobe_probes_total");
    expect((await fetchHttp(`${base(open)}/healthz`)).status).toBe(200);
    expect((await fetchHttp(`${base(open)}/readyz`)).status).toBe(200);
  });

  it("unknown resources, wrong methods, bodies too large: Status JSON too", async () => {
    const unknown = await fetchHttp(`${base(open)}/v1/nothing`);
    expect([unknown.status, statusOf(unknown).status.code]).toEqual([404, status.NOT_FOUND]);
    const wrongMethod = await fetchHttp(`${base(open)}/v1/probes`);
    expect([wrongMethod.status, wrongMethod.headers.allow]).toEqual([405, "POST"]);
    expect(statusOf(wrongMethod).status.code).toBe(status.UNIMPLEMENTED);
    const large = await postJson(`${base(open)}/v1/probes`, { host: "x".repeat(2 * 1024 * 1024) });
    expect(large.status).toBe(413);
  });
});

describe("validation, the policy and errors: the same as gRPC, as Status JSON", () => {
  it("INVALID_ARGUMENT 400: strict JSON and the service's own validation, each field named", async () => {
    const typo = await postJson(`${base(open)}/v1/probes`, { hots: "127.0.0.1" });
    expect(typo.status).toBe(400);
    expect(BadRequest.fromJSON(detail(statusOf(typo).details, "BadRequest")).fieldViolations.map((v) => v.field)).toEqual(["hots"]);
    const invalid = await postJson(`${base(open)}/v1/probes`, { host: "", ports: [99999, 25, 25] });
    const { status: s, details } = statusOf(invalid);
    expect([invalid.status, s.code]).toEqual([400, status.INVALID_ARGUMENT]);
    expect(BadRequest.fromJSON(detail(details, "BadRequest")).fieldViolations.map((v) => `${v.field}: ${v.description}`)).toEqual([
      "host: is required",
      "ports[0]: 99999 is not a port (1-65535)",
      "ports[2]: 25 is given twice (ports[1])",
    ]);
    const notJson = await postJson(`${base(open)}/v1/probes`, "{");
    expect(BadRequest.fromJSON(detail(statusOf(notJson).details, "BadRequest")).fieldViolations[0]?.field).toBe("request");
  });

  it("PERMISSION_DENIED 403 with ErrorInfo naming the field: a port the policy forbids", async () => {
    const answer = await postJson(`${base(open)}/v1/probes`, { host: "127.0.0.1", ports: [fixture.port, 26] });
    expect(answer.status).toBe(403);
    const { status: s, details } = statusOf(answer);
    expect(s.code).toBe(status.PERMISSION_DENIED);
    expect(ErrorInfo.fromJSON(detail(details, "ErrorInfo"))).toMatchObject({ reason: "TARGET_POLICY", metadata: { field: "ports[1]" } });
  });
});

describe("callers: bearer tokens", () => {
  it.each<[string, Record<string, string>]>([
    ["no token", {}],
    ["a wrong token", auth(`${TOKEN}x`)],
  ])("%s: UNAUTHENTICATED 401 with WWW-Authenticate, on every route of the API", async (_, headers) => {
    for (const answer of [await fetchHttp(`${base(tokens)}/v1/regions`, { headers }), await postJson(`${base(tokens)}/v1/probes`, { host: "127.0.0.1", ports: [closedPort] }, { headers })]) {
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="smtp-probe"');
      expect(statusOf(answer).status).toMatchObject({ code: status.UNAUTHENTICATED, message: "missing or invalid bearer token" });
    }
  });

  it("a good token: answered; the page and health stay open", async () => {
    expect((await fetchHttp(`${base(tokens)}/v1/regions`, { headers: auth(TOKEN) })).status).toBe(200);
    const probe = await postJson(`${base(tokens)}/v1/probes`, { host: "127.0.0.1", ports: [closedPort] }, { headers: auth(TOKEN) });
    expect(probe.status).toBe(200);
    expect((await fetchHttp(`${base(tokens)}/`)).status).toBe(200);
    expect((await fetchHttp(`${base(tokens)}/healthz`)).status).toBe(200);
  });

  it("quotas: past the caller's rate, RESOURCE_EXHAUSTED 429 with Retry-After and QuotaFailure", async () => {
    const quick = (n: number): Promise<HttpAnswer> => postJson(`${base(tokens)}/v1/probes`, { host: "127.0.0.1", ports: [closedPort], idempotencyKey: `q${n}` }, { headers: auth(QUOTA_TOKEN) });
    for (let n = 0; n < PER_MINUTE; n++) expect((await quick(n)).status).toBe(200);
    const refused = await quick(PER_MINUTE);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    const { status: s, details } = statusOf(refused);
    expect(s.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(QuotaFailure.fromJSON(detail(details, "QuotaFailure")).violations[0]?.subject).toBe("caller:quota-bot");
    // The same refusal as a stream: an HTTP error, not an event.
    const streamed = await postJson(`${base(tokens)}/v1/probes`, { host: "127.0.0.1", ports: [closedPort] }, { headers: { ...auth(QUOTA_TOKEN), accept: "text/event-stream" } });
    expect([streamed.status, streamed.headers["content-type"]]).toEqual([429, "application/json; charset=utf-8"]);
  });
});

describe("callers: mutual TLS", () => {
  it("HTTPS with the coordinator's certificate; a client certificate of the CA names the caller", async () => {
    const answer = await fetchHttp(`${base(mtls)}/v1/regions`, { tls: { ca: ca.certPem, cert: client.certPem, key: client.keyPem } });
    expect(answer.status).toBe(200);
  });

  it.each<[string, () => { ca: string; cert?: string; key?: string }]>([
    ["no client certificate", () => ({ ca: ca.certPem })],
    ["a certificate the CA did not issue", () => ({ ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem })],
  ])("%s: UNAUTHENTICATED 401 on every route of the API; /healthz still answers", async (_, tls) => {
    const id = "00000000-0000-4000-8000-000000000000";
    for (const path of ["/v1/regions", `/v1/domainChecks/${id}`, `/v1/batches/${id}`, `/v1/batches/${id}:watch`]) {
      const answer = await fetchHttp(`${base(mtls)}${path}`, { tls: tls() });
      expect(answer.status, path).toBe(401);
      expect(statusOf(answer).status.message).toBe("the client certificate names no caller");
    }
    expect((await fetchHttp(`${base(mtls)}/healthz`, { tls: tls() })).status).toBe(200);
  });
});

describe("cross-site request forgery and DNS rebinding", () => {
  it.each<[string, Record<string, string>, number]>([
    ["a form post (not JSON): 415", { "content-type": "application/x-www-form-urlencoded" }, 415],
    ["text/plain: 415", { "content-type": "text/plain" }, 415],
    ["another origin: 403", { origin: "http://evil.example" }, 403],
    ["another site: 403", { "sec-fetch-site": "cross-site" }, 403],
  ])("POST refused: %s, before anything runs", async (_, headers, httpStatus) => {
    const answer = await postJson(`${base(open)}/v1/probes`, { host: "127.0.0.1", ports: [closedPort] }, { headers });
    expect(answer.status).toBe(httpStatus);
    expect(statusOf(answer).status.code).toBe(httpStatus === 415 ? status.INVALID_ARGUMENT : status.PERMISSION_DENIED);
  });

  it("the page's own origin is let through", async () => {
    const origin = base(open);
    const answer = await postJson(`${origin}/v1/probes`, { host: "127.0.0.1", ports: [closedPort] }, { headers: { origin, "sec-fetch-site": "same-origin" } });
    expect(answer.status).toBe(200);
  });

  it("without authentication, a Host that is not loopback is refused (a rebound name)", async () => {
    const answer = await fetchHttp(`${base(open)}/v1/regions`, { headers: { host: `evil.example:${open.http!.port}` } });
    expect(answer.status).toBe(403);
    expect(statusOf(answer).status.message).toMatch(/answers only requests addressed to loopback/);
  });
});

describe("shutdown", () => {
  it("a call running when the coordinator stops is ended with UNAVAILABLE 503 and Retry-After when the grace period is over", async () => {
    const own = await startCoordinator(testCoordinatorConfig([silent.port], { http: { host: "127.0.0.1", port: 0 } }), silentLogger());
    const url = `${base(own)}/v1/probes`;
    const held = postJson(url, { host: "127.0.0.1", ports: [silent.port], options: { timeouts: { bannerMs: 8_000, deadlineMs: 9_000 } } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stopping = own.stop(200);
    const answer = await held;
    await stopping;
    expect(answer.status).toBe(503);
    expect(answer.headers["retry-after"]).toBe("1");
    expect(statusOf(answer).status.code).toBe(status.UNAVAILABLE);
  });
});
