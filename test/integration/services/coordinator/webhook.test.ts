// Webhook deliveries against an HTTP server of the test on 127.0.0.1: signed, tried again after a
// failure that may pass, not after one that will not, and never sent where the policy forbids.
import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PolicyDenial } from "../../../../lib/policy/policy-types.js";
import { deliverWebhook, SIGNATURE_HEADER } from "../../../../services/coordinator/monitor/webhook.js";

const SECRET = "0123456789abcdef";
/** The policy of the test: 127.0.0.1 only. */
const allowLoopback = (address: string): PolicyDenial | undefined => (address === "127.0.0.1" ? undefined : { kind: "range", reason: `${address} is not allowed` });

describe("deliverWebhook", () => {
  let server: Server;
  let port: number;
  /** Status codes to answer, in turn (200 when none is left), and what came in. */
  let answers: number[] = [];
  const received: { body: string; signature: string; host: string }[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        received.push({ body, signature: String(request.headers[SIGNATURE_HEADER]), host: String(request.headers.host) });
        response.writeHead(answers.shift() ?? 200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const deliver = (url: string) => deliverWebhook(url, SECRET, '{"run":"3"}', { checkAddress: allowLoopback, signal: new AbortController().signal });

  it("a signed POST; after a 503 it is tried again and delivered", async () => {
    received.length = 0;
    answers = [503];
    expect(await deliver(`http://127.0.0.1:${port}/hook?x=1`)).toEqual({ ok: true, attempts: 2 });
    expect(received).toHaveLength(2);
    const [, t, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(received[1]!.signature)!;
    expect(mac).toBe(createHmac("sha256", SECRET).update(`${t}.{"run":"3"}`).digest("hex"));
    expect(received[1]!.body).toBe('{"run":"3"}');
  }, 10_000);

  it("a 400 is not tried again", async () => {
    received.length = 0;
    answers = [400];
    expect(await deliver(`http://127.0.0.1:${port}/hook`)).toEqual({ ok: false, attempts: 1, reason: "answered 400" });
    expect(received).toHaveLength(1);
  });

  it("at most three attempts", async () => {
    received.length = 0;
    answers = [500, 500, 500, 500];
    expect(await deliver(`http://127.0.0.1:${port}/hook`)).toEqual({ ok: false, attempts: 3, reason: "answered 500" });
    expect(received).toHaveLength(3);
  }, 15_000);

  it("an address the policy forbids is never connected to", async () => {
    received.length = 0;
    const result = await deliver(`http://127.0.0.2:${port}/hook`);
    expect(result).toMatchObject({ ok: false, attempts: 0, reason: expect.stringContaining("the target policy forbids 127.0.0.2") });
    expect(received).toHaveLength(0);
  });
});
