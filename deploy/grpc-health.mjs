#!/usr/bin/env node
// The coordinator's container health check: one grpc.health.v1.Health/Check call to its own gRPC
// port, over TLS when SMTP_PROBE_TLS_CERT is set. It exists because Kubernetes' native gRPC probe
// and a plain HTTP check cannot speak TLS, and the coordinator must serve TLS as soon as it listens
// beyond loopback with bearer tokens (services/coordinator/caller-auth.ts). Health is open without
// a token, so nothing secret is needed here.
//
//   node grpc-health.mjs          exit 0 when the server answers SERVING (readiness: NATS is up)
//   node grpc-health.mjs --live   exit 0 on any answer, SERVING or NOT_SERVING (liveness: the
//                                 process serves; a NATS outage must not restart it)
//
// It reads the same SMTP_PROBE_LISTEN and SMTP_PROBE_TLS_CERT as the coordinator, so it needs no
// arguments of its own. Plain node:http2: the runtime image has no dev tools, and a gRPC client
// library would cost more start-up time than the call. Bounded: 3 s, 1 KiB of answer.
import { Buffer } from "node:buffer";
import { connect } from "node:http2";
import process from "node:process";
import { setTimeout } from "node:timers";

const TIMEOUT_MS = 3000;
const MAX_ANSWER = 1024;
/** grpc.health.v1.HealthCheckResponse.ServingStatus */
const STATUS_NAMES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

const live = process.argv.includes("--live");
const listen = process.env.SMTP_PROBE_LISTEN || "127.0.0.1:50051";
const tls = Boolean(process.env.SMTP_PROBE_TLS_CERT);

const fail = (why) => {
  process.stderr.write(`grpc-health: unhealthy: ${why}\n`);
  process.exit(1);
};

const colon = listen.lastIndexOf(":");
const port = Number(listen.slice(colon + 1));
if (colon < 0 || !Number.isInteger(port) || port < 1 || port > 65535) fail(`SMTP_PROBE_LISTEN=${listen}: no port to check`);
let host = listen.slice(0, colon).replace(/^\[|\]$/g, "");
// A wildcard listen address serves loopback too.
if (host === "" || host === "0.0.0.0" || host === "::") host = "127.0.0.1";
const authority = host.includes(":") ? `[${host}]` : host;

setTimeout(() => fail(`no answer from ${authority}:${port} within ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

// The server's own certificate, reached on the pod's own address: verifying it would prove nothing
// and would need the CA and the name the certificate was issued for.
const session = connect(`${tls ? "https" : "http"}://${authority}:${port}`, { rejectUnauthorized: false });
session.on("error", (error) => fail(`${authority}:${port}: ${error.message}`));

const call = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" });
call.on("error", (error) => fail(error.message));
// One length-prefixed message (flag 0, length 0): an empty HealthCheckRequest asks about the whole server.
call.end(Buffer.alloc(5));

let grpcStatus;
const chunks = [];
let size = 0;
call.on("response", (headers) => (grpcStatus = headers["grpc-status"] ?? grpcStatus));
call.on("trailers", (trailers) => (grpcStatus = trailers["grpc-status"] ?? grpcStatus));
call.on("data", (chunk) => {
  size += chunk.length;
  if (size > MAX_ANSWER) fail(`answer larger than ${MAX_ANSWER} bytes`);
  chunks.push(chunk);
});
call.on("end", () => {
  session.close();
  if (String(grpcStatus) !== "0") fail(`grpc-status ${grpcStatus ?? "missing"}`);
  const body = Buffer.concat(chunks);
  // HealthCheckResponse { status = 1 (varint) }: field 1 wire type 0, tag 0x08; absent means 0.
  const message = body.subarray(5);
  const status = message[0] === 0x08 ? message[1] : 0;
  const name = STATUS_NAMES[status] ?? `status ${status}`;
  if (status === 1 || (live && status === 2)) {
    process.stdout.write(`grpc-health: ${name}\n`);
    process.exit(0);
  }
  fail(name);
});
