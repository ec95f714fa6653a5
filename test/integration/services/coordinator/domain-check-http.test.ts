// CheckDomain and GetDomainCheck over the HTTP/JSON API, against an embedded coordinator started
// here whose agent resolves with a DNS server this test starts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainCheckReport } from "../../../../gen/smtpprobe/v1/domain.js";
import { silentLogger } from "../../../../lib/logger.js";
import { domainCheckReportJson } from "../../../../lib/proto-json.js";
import { startCoordinator, type RunningCoordinator } from "../../../../services/coordinator/coordinator.js";
import { testCoordinatorConfig } from "../../../helpers/coordinator-config.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";
import { fetchHttp, postJson, sseEvents } from "../../../helpers/http-client.js";
import { postureZone } from "../../../fixtures/posture/zone.js";

let dns: DnsServer;
let coordinator: RunningCoordinator;
const base = (): string => `http://127.0.0.1:${coordinator.http!.port}`;

beforeAll(async () => {
  dns = await startDnsServer(postureZone());
  const config = testCoordinatorConfig([25], { http: { host: "127.0.0.1", port: 0 } });
  coordinator = await startCoordinator({ ...config, embedded: { ...config.embedded, dnsServers: [dns.server] } }, silentLogger());
});
afterAll(async () => {
  await coordinator?.stop(0);
  await dns?.stop();
});

describe("the domain check over HTTP", () => {
  it("POST /v1/domain-checks answers the report, GET /v1/domain-checks/{id} the stored one", async () => {
    const answer = await postJson(`${base()}/v1/domain-checks`, { domain: "good.test", dkimSelectors: ["s2048"], skipBlocklists: true });
    expect(answer.status).toBe(200);
    const json = answer.json();
    const report = DomainCheckReport.fromJSON(json);
    expect(domainCheckReportJson(report)).toEqual(json);
    expect(report.postures.map((p) => [p.region, p.dmarc?.policy, p.dkimKeys[0]?.keyBits])).toEqual([["local", "reject", 2048]]);
    const stored = await fetchHttp(`${base()}/v1/domain-checks/${report.checkId}`);
    expect(stored.status).toBe(200);
    expect(DomainCheckReport.fromJSON(stored.json()).checkId).toBe(report.checkId);
    expect((await fetchHttp(`${base()}/v1/domain-checks/not-an-id`)).status).toBe(400);
    expect((await fetchHttp(`${base()}/v1/domain-checks/00000000-0000-0000-0000-000000000000`)).status).toBe(404);
  });

  it("with Accept: text/event-stream: accepted, the posture, the report; a bad field is 400 naming it", async () => {
    const answer = await postJson(`${base()}/v1/domain-checks`, { domain: "many.test", skipBlocklists: true }, { headers: { accept: "text/event-stream" } });
    expect(answer.status).toBe(200);
    expect(sseEvents(answer.text).map((e) => e.event)).toEqual(["accepted", "posture", "report"]);
    const bad = await postJson(`${base()}/v1/domain-checks`, { domain: "192.0.2.1" });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("domain");
  });
});
