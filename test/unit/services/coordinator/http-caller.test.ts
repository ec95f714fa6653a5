// httpCallerAuth reads what the HTTP layer gives it: the authorization header, and the TLS socket's
// verdict on the client certificate (authorized) with the certificate itself. The requests here are
// those two things; the TLS side is exercised for real in test/integration/services/coordinator/http-api.test.ts.
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { httpCallerAuth } from "../../../../services/coordinator/http-caller.js";

const TOKEN = "a-token-of-the-ci-bot-0123";
const tokens = new Map([[TOKEN, "ci-bot"]]);

function request(options: { authorization?: string; authorized?: boolean; cn?: string; san?: string } = {}): IncomingMessage {
  const socket = options.authorized === undefined ? {} : { authorized: options.authorized, getPeerCertificate: () => ({ subject: options.cn ? { CN: options.cn } : {}, subjectaltname: options.san ?? "" }) };
  return { headers: options.authorization ? { authorization: options.authorization } : {}, socket } as unknown as IncomingMessage;
}

describe("httpCallerAuth", () => {
  it.each<[string, Parameters<typeof httpCallerAuth>[0], ReturnType<typeof request>, ReturnType<ReturnType<typeof httpCallerAuth>>]>([
    ["no authentication: anonymous", { mutualTls: false }, request(), { ok: true, caller: "anonymous" }],
    ["a good token", { tokens, mutualTls: false }, request({ authorization: `Bearer ${TOKEN}` }), { ok: true, caller: "ci-bot" }],
    ["the scheme in any case, spaces around", { tokens, mutualTls: false }, request({ authorization: `  bearer   ${TOKEN} ` }), { ok: true, caller: "ci-bot" }],
    ["a wrong token", { tokens, mutualTls: false }, request({ authorization: `Bearer ${TOKEN}x` }), { ok: false, status: 401, message: "missing or invalid bearer token" }],
    ["no token", { tokens, mutualTls: false }, request(), { ok: false, status: 401, message: "missing or invalid bearer token" }],
    ["Basic instead of Bearer", { tokens, mutualTls: false }, request({ authorization: `Basic ${TOKEN}` }), { ok: false, status: 401, message: "missing or invalid bearer token" }],
    ["a verified certificate: its CN", { mutualTls: true }, request({ authorized: true, cn: "ci-client" }), { ok: true, caller: "ci-client" }],
    ["a verified certificate without CN: its first DNS name", { mutualTls: true }, request({ authorized: true, san: "IP Address:127.0.0.1, DNS:svc.example" }), { ok: true, caller: "svc.example" }],
    ["a certificate the CA did not issue", { mutualTls: true }, request({ authorized: false, cn: "intruder" }), { ok: false, status: 401, message: "the client certificate names no caller" }],
    ["no certificate", { mutualTls: true }, request(), { ok: false, status: 401, message: "the client certificate names no caller" }],
    ["both: the token names the caller", { tokens, mutualTls: true }, request({ authorized: true, cn: "ci-client", authorization: `Bearer ${TOKEN}` }), { ok: true, caller: "ci-bot" }],
    ["both, the token missing", { tokens, mutualTls: true }, request({ authorized: true, cn: "ci-client" }), { ok: false, status: 401, message: "missing or invalid bearer token" }],
    ["both, the certificate missing", { tokens, mutualTls: true }, request({ authorization: `Bearer ${TOKEN}` }), { ok: false, status: 401, message: "the client certificate names no caller" }],
  ])("%s", (_, auth, req, expected) => {
    expect(httpCallerAuth(auth)(req)).toEqual(expected);
  });
});
