// The domain check over the HTTP/JSON API, against embedded coordinators started in this process
// whose agent asks a DNS server started here: POST /v1/domainChecks (the report; the events as
// Server-Sent Events in order), GET /v1/domainChecks/{check_id}, validation naming the field, a
// coordinator with bearer tokens; and the batch routes of a coordinator without JetStream, which
// answer what the gRPC BatchService does. Every answer is read with the generated fromJSON.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequest, ResourceInfo } from "../../../../gen/google/rpc/error_details.js";
import { Status } from "../../../../gen/google/rpc/status.js";
import { DomainCheckEvent, DomainCheckReport } from "../../../../gen/smtpprobe/v1/domain.js";
import { domainCheckEventJson, domainCheckReportJson } from "../../../../lib/proto-json.js";
import { silentLogger } from "../../../../lib/logger.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";
import { fetchHttp, postJson, sseEvents, type HttpAnswer } from "../../../helpers/http-client.js";

const TOKEN = "http-domain-token-of-ci-bot-0123";

let dns: DnsServer;
let open: RunningCoordinator;
let tokens: RunningCoordinator;

const base = (c: RunningCoordinator): string => `${c.http!.scheme}://127.0.0.1:${c.http!.port}`;
const auth = { authorization: `Bearer ${TOKEN}` };
const CHECK = { domain: "example.test", skipBlocklists: true, deadlineMs: 3000 };

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

/** The JSON mapping exactly: the generated code reads it, and the mapping of what it read gives it back. */
function decodeReport(json: unknown): DomainCheckReport {
  const report = DomainCheckReport.fromJSON(json);
  expect(domainCheckReportJson(report)).toEqual(json);
  return report;
}

beforeAll(async () => {
  dns = await startDnsServer({
    "example.test": { MX: [{ exchange: "mx.example.test", preference: 10 }], TXT: ["v=spf1 mx -all"] },
    "_dmarc.example.test": { TXT: ["v=DMARC1; p=reject"] },
    "mx.example.test": { A: ["198.18.30.1"] },
  });
  const config = (overrides: Parameters<typeof testCoordinatorConfig>[1]) => {
    const base = testCoordinatorConfig([2525], overrides);
    return { ...base, embedded: { ...base.embedded!, dnsServers: [dns.server] } };
  };
  const http = { host: "127.0.0.1", port: 0 };
  [open, tokens] = await Promise.all([
    startCoordinator(config({ http }), silentLogger()),
    startCoordinator(config({ http, auth: { tokens: new Map([[TOKEN, "ci-bot"]]) } }), silentLogger()),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([open, tokens].map((c) => c?.stop(1_000)));
  await dns?.stop();
});

describe("the domain check over HTTP", () => {
  it("POST /v1/domainChecks: the report; GET /v1/domainChecks/{check_id} the same one", async () => {
    const answer = await postJson(`${base(open)}/v1/domainChecks`, CHECK);
    expect(answer.status, answer.text).toBe(200);
    const report = decodeReport(answer.json());
    expect(report.missing).toEqual([]);
    expect(report.postures.map((p) => p.region)).toEqual(["local"]);
    expect(report.postures[0]?.mx?.exchangers.map((e) => e.exchange)).toEqual(["mx.example.test"]);
    expect(report.postures[0]?.spf?.record?.record).toBe("v=spf1 mx -all");

    const stored = await fetchHttp(`${base(open)}/v1/domainChecks/${report.checkId}`);
    expect(stored.status).toBe(200);
    expect(decodeReport(stored.json())).toEqual(report);
  });

  it("with Accept: text/event-stream: accepted, a posture per region, then the report", async () => {
    const answer = await postJson(`${base(open)}/v1/domainChecks`, CHECK, { headers: { accept: "text/event-stream" } });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    const events = sseEvents(answer.text);
    expect(events.map((e) => e.event)).toEqual(["accepted", "posture", "report"]);
    const decoded = events.map((e) => {
      const json = JSON.parse(e.data) as unknown;
      const event = DomainCheckEvent.fromJSON(json);
      expect(domainCheckEventJson(event)).toEqual(json);
      expect(Object.keys(json as object)).toEqual([e.event]);
      return event;
    });
    expect(decoded[0]?.accepted).toMatchObject({ regions: ["local"], deadlineMs: 3000 });
    expect(decoded[1]?.posture?.region).toBe("local");
    expect(decoded[2]?.report?.checkId).toBe(decoded[0]?.accepted?.checkId);
  });

  it("validation: INVALID_ARGUMENT 400 naming the field, from the strict JSON check and the service's own", async () => {
    const typo = await postJson(`${base(open)}/v1/domainChecks`, { domian: "example.test" });
    expect(typo.status).toBe(400);
    expect(BadRequest.fromJSON(detail(statusOf(typo).details, "BadRequest")).fieldViolations.map((v) => v.field)).toEqual(["domian"]);
    const wrongType = await postJson(`${base(open)}/v1/domainChecks`, { domain: "example.test", deadlineMs: "soon" });
    expect(BadRequest.fromJSON(detail(statusOf(wrongType).details, "BadRequest")).fieldViolations.map((v) => v.field)).toEqual(["deadline_ms"]);
    // A stream asked for: still an HTTP error, not an event.
    const invalid = await postJson(`${base(open)}/v1/domainChecks`, { domain: "" }, { headers: { accept: "text/event-stream" } });
    const { status: s, details } = statusOf(invalid);
    expect([invalid.status, s.code]).toEqual([400, status.INVALID_ARGUMENT]);
    expect(BadRequest.fromJSON(detail(details, "BadRequest")).fieldViolations[0]?.field).toBe("domain");
  });

  it("GET /v1/domainChecks/{check_id}: NOT_FOUND 404 with ResourceInfo; a malformed id INVALID_ARGUMENT 400 naming check_id", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    const missing = await fetchHttp(`${base(open)}/v1/domainChecks/${id}`);
    expect(missing.status).toBe(404);
    expect(ResourceInfo.fromJSON(detail(statusOf(missing).details, "ResourceInfo"))).toMatchObject({ resourceType: "smtpprobe.v1.DomainCheckReport", resourceName: id });
    const malformed = await fetchHttp(`${base(open)}/v1/domainChecks/nope`);
    expect(malformed.status).toBe(400);
    expect(BadRequest.fromJSON(detail(statusOf(malformed).details, "BadRequest")).fieldViolations[0]?.field).toBe("check_id");
  });

  it("a coordinator with tokens: 401 without one on both routes, answered with one", async () => {
    for (const answer of [await postJson(`${base(tokens)}/v1/domainChecks`, CHECK), await fetchHttp(`${base(tokens)}/v1/domainChecks/00000000-0000-4000-8000-000000000000`)]) {
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="smtp-probe"');
      expect(statusOf(answer).status.code).toBe(status.UNAUTHENTICATED);
    }
    const answer = await postJson(`${base(tokens)}/v1/domainChecks`, CHECK, { headers: auth });
    expect(answer.status, answer.text).toBe(200);
    const report = decodeReport(answer.json());
    expect((await fetchHttp(`${base(tokens)}/v1/domainChecks/${report.checkId}`, { headers: auth })).status).toBe(200);
  });

  it("a cross-site POST is refused before anything runs", async () => {
    const answer = await postJson(`${base(open)}/v1/domainChecks`, CHECK, { headers: { origin: "http://evil.example" } });
    expect([answer.status, statusOf(answer).status.code]).toEqual([403, status.PERMISSION_DENIED]);
    const form = await postJson(`${base(open)}/v1/domainChecks`, CHECK, { headers: { "content-type": "text/plain" } });
    expect(form.status).toBe(415);
  });
});

describe("batches on a coordinator without JetStream", () => {
  it("every batch route answers FAILED_PRECONDITION 400, as the gRPC BatchService does", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    const answers = [
      await postJson(`${base(open)}/v1/batches`, { targets: [{ host: "127.0.0.1", ports: [2525] }] }),
      await fetchHttp(`${base(open)}/v1/batches/${id}`),
      await fetchHttp(`${base(open)}/v1/batches/${id}:watch`, { headers: { accept: "text/event-stream" } }),
      await postJson(`${base(open)}/v1/batches/${id}:cancel`, {}),
    ];
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(400);
      const { status: s } = statusOf(answer);
      expect(s.code).toBe(status.FAILED_PRECONDITION);
      expect(s.message).toMatch(/batches need JetStream/);
    }
  });
});

describe("monitors on a coordinator without JetStream", () => {
  it("every monitor route answers FAILED_PRECONDITION 400, as the gRPC MonitorService does", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    const answers = [
      await postJson(`${base(open)}/v1/monitors`, { probe: { host: "127.0.0.1", ports: [2525] }, intervalSeconds: 60 }),
      await fetchHttp(`${base(open)}/v1/monitors`),
      await fetchHttp(`${base(open)}/v1/monitors/${id}`),
      await fetchHttp(`${base(open)}/v1/monitors/${id}`, { method: "DELETE" }),
      await fetchHttp(`${base(open)}/v1/monitors/${id}:watch`),
    ];
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(400);
      const { status: s } = statusOf(answer);
      expect(s.code).toBe(status.FAILED_PRECONDITION);
      expect(s.message).toMatch(/monitors need JetStream/);
    }
  });
});
