// Bad input through the gRPC API of an embedded coordinator (no NATS; its in-process agent serves
// region `local`), run as a child process of the real binary with NO allowlist: every bad request
// is INVALID_ARGUMENT naming the field; every forbidden target is PERMISSION_DENIED (or, for a name,
// POLICY_DENIED once the agent has resolved it) — and a TCP server on 127.0.0.1 that the forbidden
// targets point at must never see a connection. Names resolve through a DNS server of this test.
import net from "node:net";
import { status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfo } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";
import { AddressFamily, FailureSource, Outcome, TlsMode } from "../../gen/smtpprobe/v1/handshake.js";
import { CellState, TaskStatus } from "../../gen/smtpprobe/v1/probe_service.js";
import { fieldViolationsOf } from "../../services/coordinator/grpc-errors.js";
import { startDnsServer, type DnsServer } from "../helpers/dns-server.js";
import { callError, connectProbeApi, describeError, type ProbeApi, type ProbeRequestInput } from "../helpers/grpc-client.js";
import { START_HOOK_TIMEOUT_MS, startCoordinatorProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { wellBefore } from "../helpers/timing.js";
import { closeServer, delay, listenLoopback } from "../helpers/wait.js";

/** A name that does not exist in the test zone: if a bad request slipped through, its probe goes nowhere. */
const HARMLESS_HOST = "nothing.example.test";

/** The first status detail of type ErrorInfo (PERMISSION_DENIED carries one). */
function errorInfoOf(error: ServiceError): ErrorInfo | undefined {
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  if (!raw || typeof raw === "string") return undefined;
  const detail = Status.decode(raw).details.find((d) => d.typeUrl === "type.googleapis.com/google.rpc.ErrorInfo");
  return detail ? ErrorInfo.decode(detail.value) : undefined;
}

describe("ProbeService bad input (embedded coordinator, no allowlist)", () => {
  let coordinator: CoordinatorProcess;
  let api: ProbeApi;
  let dns: DnsServer;
  let tcp: net.Server;
  let tcpPort: number;
  const seen: string[] = [];

  beforeAll(async () => {
    tcp = net.createServer((socket) => {
      seen.push(`${socket.remoteAddress}:${socket.remotePort}`);
      socket.destroy();
    });
    tcpPort = await listenLoopback(tcp);
    dns = await startDnsServer({
      "loopback.example.test": { A: ["127.0.0.1"] },
      // dns2 encodes the dotted form "::ffff:127.0.0.1" wrongly (as ::255.255.1.39): the hex form.
      "mapped.example.test": { AAAA: ["::ffff:7f00:1"] },
      // Mail for it goes to special-use names: the agent refuses each by name.
      "special-mx.example.test": { MX: [{ exchange: "localhost", preference: 10 }, { exchange: "mx.x.localhost", preference: 20 }] },
    });
    // The TCP server's port is allowed, so a denial of 127.0.0.1 is the address's, not the port's.
    coordinator = await startCoordinatorProcess({ allowPorts: [25, tcpPort], dnsServers: [dns.server] });
    api = connectProbeApi(coordinator.address);
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    api?.close();
    await coordinator?.stop();
    await dns?.stop();
    if (tcp) await closeServer(tcp);
  });

  const valid = (): ProbeRequestInput => ({ host: HARMLESS_HOST, ports: [25], regions: ["local"] });

  const badRequests: { name: string; request: () => ProbeRequestInput; field: string }[] = [
    { name: "empty host", request: () => ({ ...valid(), host: "" }), field: "host" },
    { name: "host with spaces", request: () => ({ ...valid(), host: "mail example.test" }), field: "host" },
    { name: "host -bad-.com", request: () => ({ ...valid(), host: "-bad-.com" }), field: "host" },
    { name: "host with CR LF", request: () => ({ ...valid(), host: "a.test\r\nb.test" }), field: "host" },
    { name: "host longer than 253", request: () => ({ ...valid(), host: `${"a".repeat(60)}.`.repeat(5) + "test" }), field: "host" },
    { name: "host as a numeric look-alike (0x7f.1)", request: () => ({ ...valid(), host: "0x7f.1" }), field: "host" },
    { name: "port 0", request: () => ({ ...valid(), ports: [0] }), field: "ports[0]" },
    { name: "port 70000", request: () => ({ ...valid(), ports: [25, 70000] }), field: "ports[1]" },
    { name: "9 ports", request: () => ({ ...valid(), ports: [25, 465, 587, 2525, 2526, 2527, 2528, 2529, 2530] }), field: "ports" },
    { name: "duplicate ports", request: () => ({ ...valid(), ports: [25, 587, 25] }), field: "ports[2]" },
    { name: "region EU_WEST", request: () => ({ ...valid(), regions: ["EU_WEST"] }), field: "regions[0]" },
    { name: "region a.b", request: () => ({ ...valid(), regions: ["local", "a.b"] }), field: "regions[1]" },
    { name: "region *", request: () => ({ ...valid(), regions: ["*"] }), field: "regions[0]" },
    { name: "region >", request: () => ({ ...valid(), regions: [">"] }), field: "regions[0]" },
    { name: "region empty", request: () => ({ ...valid(), regions: [""] }), field: "regions[0]" },
    { name: "duplicate regions", request: () => ({ ...valid(), regions: ["local", "local"] }), field: "regions[1]" },
    { name: "ehlo_name with CR LF", request: () => ({ ...valid(), options: { ehloName: "probe.test\r\nMAIL FROM:<a@b>" } }), field: "options.ehlo_name" },
    { name: "ehlo_name with LF only", request: () => ({ ...valid(), options: { ehloName: "probe.test\nRSET" } }), field: "options.ehlo_name" },
    { name: "mx with an IP", request: () => ({ ...valid(), host: "127.0.0.1", mx: true }), field: "mx" },
    {
      name: "tls_modes for a port not requested",
      request: () => ({ ...valid(), ports: [25], tlsModes: { 587: TlsMode.TLS_MODE_REQUIRE } }),
      field: "tls_modes[587]",
    },
    { name: "a huge idempotency key", request: () => ({ ...valid(), idempotencyKey: "k".repeat(100_000) }), field: "idempotency_key" },
    { name: "an idempotency key with a control character", request: () => ({ ...valid(), idempotencyKey: "key\u0000" }), field: "idempotency_key" },
    { name: "a negative enum (options.tls_mode -1)", request: () => ({ ...valid(), options: { tlsMode: -1 as TlsMode } }), field: "options.tls_mode" },
    { name: "an unrecognized enum (options.tls_mode 99)", request: () => ({ ...valid(), options: { tlsMode: 99 as TlsMode } }), field: "options.tls_mode" },
    {
      name: "an unrecognized enum (options.address_family 7)",
      request: () => ({ ...valid(), options: { addressFamily: 7 as AddressFamily } }),
      field: "options.address_family",
    },
    { name: "an unrecognized enum in tls_modes", request: () => ({ ...valid(), tlsModes: { 25: 42 as TlsMode } }), field: "tls_modes[25]" },
    {
      name: "a connect timeout over the maximum",
      request: () => ({ ...valid(), options: { timeouts: { connectMs: 300_001 } } }),
      field: "options.timeouts.connect_ms",
    },
    {
      name: "a deadline over the coordinator's maximum (120 s)",
      request: () => ({ ...valid(), options: { timeouts: { deadlineMs: 180_000 } } }),
      field: "options.timeouts.deadline_ms",
    },
    {
      name: "a deadline over the engine's maximum",
      request: () => ({ ...valid(), options: { timeouts: { deadlineMs: 3_600_000 } } }),
      field: "options.timeouts.deadline_ms",
    },
  ];

  it.each(badRequests)("INVALID_ARGUMENT naming the field: $name", async ({ request, field }) => {
    const error = await callError(api.probe(request()));
    expect(error.code, describeError(error)).toBe(status.INVALID_ARGUMENT);
    const violations = fieldViolationsOf(error);
    expect(violations.map((v) => v.field), describeError(error)).toContain(field);
    for (const v of violations) expect(v.description).not.toBe("");
    // The message names the field too, for callers that only print it.
    expect(error.details).toContain(field);
  });

  it.each([
    { name: "INVALID_ARGUMENT", request: (): ProbeRequestInput => ({ ...valid(), ports: [0] }), code: status.INVALID_ARGUMENT },
    { name: "PERMISSION_DENIED", request: (): ProbeRequestInput => ({ ...valid(), host: "127.0.0.1", ports: [tcpPort] }), code: status.PERMISSION_DENIED },
  ])("StreamProbe refuses at once with the same status as Probe: $name", async ({ request, code }) => {
    const callDeadlineMs = 3_000;
    const started = performance.now();
    const stream = api.streamProbe(request(), { deadlineMs: callDeadlineMs });
    const { events, error } = await stream.done;
    const elapsed = performance.now() - started;
    expect(events).toEqual([]);
    // A refused stream must end with its status at once, not hang until the caller's deadline.
    expect(error && describeError(error)).toBe(describeError(await callError(api.probe(request()))));
    expect(error?.code).toBe(code);
    expect(elapsed).toBeLessThan(wellBefore(callDeadlineMs));
  });

  it("every violation of a request is reported, not only the first", async () => {
    const error = await callError(api.probe({ host: "", ports: [0], regions: ["EU_WEST"], options: { ehloName: "a\r\nb" } }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldViolationsOf(error).map((v) => v.field).sort()).toEqual(["host", "options.ehlo_name", "ports[0]", "regions[0]"]);
  });

  it("GetProbe with something that is not a probe id is INVALID_ARGUMENT", async () => {
    const error = await callError(api.getProbe("../../etc/passwd"));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldViolationsOf(error).map((v) => v.field)).toEqual(["probe_id"]);
  });

  interface Forbidden {
    name: string;
    host: string;
    port: () => number;
    field: string;
    says: RegExp;
  }

  /** PERMISSION_DENIED from the API itself: an agent's denial would be a report with POLICY_DENIED instead. */
  async function expectDenied({ host, port, field, says }: Forbidden): Promise<void> {
    const error = await callError(api.probe({ host, ports: [port()], regions: ["local"] }));
    expect(error.code, describeError(error)).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(says);
    expect(errorInfoOf(error)?.metadata.field).toBe(field);
  }

  // Targets that point at the TCP server of this test: it would see a connection.
  const forbidden: Forbidden[] = [
    { name: "127.0.0.1", host: "127.0.0.1", port: () => tcpPort, field: "host", says: /loopback/ },
    { name: "[127.0.0.1] in brackets", host: "[127.0.0.1]", port: () => tcpPort, field: "host", says: /loopback/ },
    { name: "::1", host: "::1", port: () => tcpPort, field: "host", says: /loopback/ },
    { name: "::ffff:127.0.0.1 (IPv4-mapped loopback)", host: "::ffff:127.0.0.1", port: () => tcpPort, field: "host", says: /loopback/ },
    { name: "::ffff:7f00:1 (IPv4-mapped loopback, hex)", host: "::ffff:7f00:1", port: () => tcpPort, field: "host", says: /loopback/ },
    { name: "0.0.0.0", host: "0.0.0.0", port: () => tcpPort, field: "host", says: /unspecified/ },
    { name: "a port not allowed", host: HARMLESS_HOST, port: () => 2526, field: "ports[0]", says: /2526/ },
  ];

  it.each(forbidden)("PERMISSION_DENIED, with the reason, and no connection: $name", async (row) => {
    const before = seen.length;
    await expectDenied(row);
    await delay(50);
    expect(seen.slice(before)).toEqual([]);
  });

  // Targets outside loopback, which this test does not watch: what is proved is the refusal at the
  // API, before any agent is asked.
  const unwatched: Forbidden[] = [
    { name: "10.1.2.3 (private)", host: "10.1.2.3", port: () => 25, field: "host", says: /private/ },
    { name: "169.254.169.254 (cloud metadata)", host: "169.254.169.254", port: () => 25, field: "host", says: /link-local/ },
  ];

  it.each(unwatched)("PERMISSION_DENIED, with the reason, before any agent: $name", async (row) => {
    await expectDenied(row);
  });

  it.each([
    { name: "a name that resolves to 127.0.0.1", host: "loopback.example.test", address: "127.0.0.1", type: "A" },
    { name: "a name that resolves to ::ffff:127.0.0.1", host: "mapped.example.test", address: /^::ffff:(127\.0\.0\.1|7f00:1)$/, type: "AAAA" },
  ])("$name: the agent resolves it, the policy denies the address, no connection", async ({ host, address, type }) => {
    const before = seen.length;
    const report = await api.probe({ host, ports: [tcpPort], regions: ["local"] });
    const [task] = report.tasks;
    expect(task?.status, task?.detail).toBe(TaskStatus.TASK_STATUS_DONE);
    // Resolved in the agent, through the test's DNS server.
    expect(dns.queries()).toContainEqual({ name: host, type });
    const handshakes = task?.result?.handshakes ?? [];
    expect(handshakes.length).toBeGreaterThan(0);
    const denied = handshakes.filter((h) => (typeof address === "string" ? h.address === address : address.test(h.address)));
    expect(denied, JSON.stringify(handshakes.map((h) => [h.address, Outcome[h.outcome], h.reason]))).toHaveLength(1);
    expect(denied[0]).toMatchObject({ outcome: Outcome.OUTCOME_POLICY_DENIED, failureSource: FailureSource.FAILURE_SOURCE_POLICY });
    expect(denied[0]?.reason).toMatch(/loopback/);
    for (const h of handshakes) expect(h.outcome).not.toBe(Outcome.OUTCOME_OK);
    expect(report.comparison?.cells.map((c) => c.state)).toEqual([CellState.CELL_STATE_POLICY_DENIED]);
    await delay(50);
    expect(seen.slice(before)).toEqual([]);
  });

  it.each(["localhost", "x.localhost", "LocalHost.", "printer.local", "mail.corp.internal"])(
    "the special-use name %s: PERMISSION_DENIED on host, naming the RFC, before any DNS query",
    async (host) => {
      const before = seen.length;
      const error = await callError(api.probe({ host, ports: [tcpPort], regions: ["local"] }));
      expect(error.code, describeError(error)).toBe(status.PERMISSION_DENIED);
      expect(error.details).toMatch(/is a special-use name \((RFC \d+|reserved for private use by ICANN)/);
      expect(error.details).toContain("--allow-name");
      expect(errorInfoOf(error)?.metadata.field).toBe("host");
      await delay(50);
      expect(dns.queries().map((q) => q.name)).not.toContain(host.toLowerCase().replace(/\.$/, ""));
      expect(seen.slice(before)).toEqual([]);
    },
  );

  it("MX exchangers with special-use names: the agent refuses each by name (POLICY_DENIED), no query for them", async () => {
    const report = await api.probe({ host: "special-mx.example.test", mx: true, ports: [tcpPort], regions: ["local"] });
    const [task] = report.tasks;
    expect(task?.status, task?.detail).toBe(TaskStatus.TASK_STATUS_DONE);
    const handshakes = task?.result?.handshakes ?? [];
    expect(handshakes.map((h) => [h.exchange, Outcome[h.outcome], FailureSource[h.failureSource]])).toEqual([
      ["localhost", "OUTCOME_POLICY_DENIED", "FAILURE_SOURCE_POLICY"],
      ["mx.x.localhost", "OUTCOME_POLICY_DENIED", "FAILURE_SOURCE_POLICY"],
    ]);
    for (const h of handshakes) expect(h.reason).toContain("RFC 6761 §6.3");
    const asked = dns.queries().map((q) => q.name);
    expect(asked).toContain("special-mx.example.test");
    expect(asked).not.toContain("localhost");
    expect(asked).not.toContain("mx.x.localhost");
  });

  it("the TCP server never saw a connection in this file", () => {
    expect(seen).toEqual([]);
  });
});
