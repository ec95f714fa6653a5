// The request validator through a real gRPC server, with fast-check: random hosts, ports, regions,
// options and oversized messages sent to an embedded coordinator (the real binary) answer only
// INVALID_ARGUMENT, PERMISSION_DENIED or RESOURCE_EXHAUSTED — never INTERNAL or UNKNOWN — and the
// coordinator logs no internal error. Nothing is ever probed: the coordinator allows one port, a
// closed one of this test, which the generated requests never name, so every request that passes
// validation is refused by the early policy (and DNS, were it reached, goes to a closed local port).
import fc from "fast-check";
import { credentials, makeGenericClientConstructor, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProbeRequest } from "../../gen/smtpprobe/v1/probe_service.js";
import { MAX_RECEIVE_MESSAGE_BYTES } from "../../services/coordinator/server.js";
import { freePort } from "../helpers/free-port.js";
import { connectProbeApi, describeError, type ProbeApi } from "../helpers/grpc-client.js";
import { probeRequestArbitrary } from "../helpers/probe-request-arbitrary.js";
import { START_HOOK_TIMEOUT_MS, startCoordinatorProcess, stopAll, type CoordinatorProcess } from "../helpers/processes.js";

const ALLOWED_CODES = new Set([status.INVALID_ARGUMENT, status.PERMISSION_DENIED, status.RESOURCE_EXHAUSTED]);

let coordinator: CoordinatorProcess;
let api: ProbeApi;
let onlyPort: number;

/** How a call ended: its status code (OK when it answered). */
async function codeOf(call: Promise<unknown>): Promise<{ code: status; text: string }> {
  try {
    await call;
    return { code: status.OK, text: "answered" };
  } catch (error) {
    return { code: (error as ServiceError).code, text: describeError(error) };
  }
}

async function streamCodeOf(request: ProbeRequest): Promise<{ code: status; text: string }> {
  const { error } = await api.streamProbe(request, { deadlineMs: 5_000 }).done;
  return error ? { code: error.code, text: describeError(error) } : { code: status.OK, text: "answered" };
}

beforeAll(async () => {
  onlyPort = await freePort();
  const dnsPort = await freePort();
  coordinator = await startCoordinatorProcess({
    allowCidrs: ["127.0.0.0/8"],
    allowPorts: [onlyPort],
    dnsServers: [`127.0.0.1:${dnsPort}`],
    extraArgs: ["--log-level", "warn"],
  });
  api = connectProbeApi(coordinator.address);
}, START_HOOK_TIMEOUT_MS);

afterAll(async () => {
  api?.close();
  await stopAll([coordinator]);
});

/** A client that sends raw bytes as the Probe request. */
interface RawClient {
  probe(bytes: Buffer, options: { deadline: number }, callback: (error: ServiceError | null) => void): unknown;
  close(): void;
}
const RawClientConstructor = makeGenericClientConstructor(
  {
    probe: {
      path: "/smtpprobe.v1.ProbeService/Probe",
      requestStream: false,
      responseStream: false,
      requestSerialize: (bytes: Buffer) => bytes,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  },
  "RawProbe",
) as unknown as new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => RawClient;

describe("ProbeService under random input (fast-check)", () => {
  it("Probe and StreamProbe: only INVALID_ARGUMENT, PERMISSION_DENIED or RESOURCE_EXHAUSTED", { timeout: 60_000 }, async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(probeRequestArbitrary({ excludePorts: [onlyPort] }), fc.boolean(), async (request, stream) => {
        const ended = stream ? await streamCodeOf(request) : await codeOf(api.probe(request, { deadlineMs: 5_000 }));
        seen.set(status[ended.code] ?? String(ended.code), (seen.get(status[ended.code] ?? "") ?? 0) + 1);
        expect(ALLOWED_CODES.has(ended.code), `${ended.text}\nrequest: ${JSON.stringify(ProbeRequest.toJSON(request)).slice(0, 2000)}`).toBe(true);
      }),
      { numRuns: 150 },
    );
    // Both kinds of refusal were exercised.
    expect([...seen.keys()], JSON.stringify([...seen])).toEqual(expect.arrayContaining(["INVALID_ARGUMENT", "PERMISSION_DENIED"]));
    expect(coordinator.output()).not.toMatch(/internal error/i);
  });

  it("random bytes as the request: INVALID_ARGUMENT when they do not decode (never grpc-js's INTERNAL)", { timeout: 30_000 }, async () => {
    const raw = new RawClientConstructor(coordinator.address, credentials.createInsecure());
    try {
      const seen = new Set<string>();
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
          let decoded: ProbeRequest | undefined;
          try {
            decoded = ProbeRequest.decode(bytes);
          } catch {
            decoded = undefined;
          }
          // Bytes that decode are requests like any other: kept away from the one allowed port.
          fc.pre(!decoded?.ports.includes(onlyPort));
          const error = await new Promise<ServiceError | null>((resolve) => raw.probe(Buffer.from(bytes), { deadline: Date.now() + 5_000 }, resolve));
          expect(error, "answered").not.toBeNull();
          seen.add(status[error!.code] ?? "");
          expect(ALLOWED_CODES.has(error!.code), describeError(error)).toBe(true);
          if (decoded === undefined) {
            expect(error!.code, describeError(error)).toBe(status.INVALID_ARGUMENT);
            expect(error!.details).toContain("request: is not a ProbeRequest in protobuf encoding");
          }
        }),
        { numRuns: 100 },
      );
      expect([...seen]).toContain("INVALID_ARGUMENT");
    } finally {
      raw.close();
    }
  });

  it("oversized messages (over the 1 MiB receive bound): RESOURCE_EXHAUSTED; just under it: INVALID_ARGUMENT", { timeout: 30_000 }, async () => {
    const over = MAX_RECEIVE_MESSAGE_BYTES + 1024;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("host", "ehloName", "regions", "idempotencyKey"),
        fc.integer({ min: over, max: 3 * MAX_RECEIVE_MESSAGE_BYTES }),
        fc.boolean(),
        async (field, size, stream) => {
          const big = "x".repeat(size);
          const request = ProbeRequest.fromPartial({
            host: field === "host" ? big : "mx.example.test",
            regions: field === "regions" ? Array.from({ length: Math.ceil(size / 60) }, (_, i) => `r${i}`.padEnd(60, "x")) : [],
            idempotencyKey: field === "idempotencyKey" ? big : "",
            options: { ehloName: field === "ehloName" ? big : "" },
          });
          const ended = stream ? await streamCodeOf(request) : await codeOf(api.probe(request, { deadlineMs: 10_000 }));
          expect(ended.code, ended.text).toBe(status.RESOURCE_EXHAUSTED);
        },
      ),
      { numRuns: 12 },
    );
    const under = await codeOf(api.probe({ host: "x".repeat(MAX_RECEIVE_MESSAGE_BYTES - 4096) }));
    expect(under.code, under.text).toBe(status.INVALID_ARGUMENT);
    // The server is still fine.
    const after = await codeOf(api.probe({ host: "127.0.0.1", ports: [25] }));
    expect(after.code, after.text).toBe(status.PERMISSION_DENIED);
    expect(coordinator.output()).not.toMatch(/internal error/i);
  });
});
