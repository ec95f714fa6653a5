// Who calls the coordinator over HTTP: the same rules as the gRPC interceptor (caller-auth.ts) —
// a bearer token in `authorization`, and/or a client certificate verified by the TLS layer — so
// that every way in (gRPC, the HTTP/JSON API, the Prometheus /probe endpoint) knows callers alike.
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { ANONYMOUS_CALLER, callerFromCertificate, tokenMatcher, type CallerAuth } from "./caller-auth.js";

export type HttpCaller = { ok: true; caller: string } | { ok: false; status: 401; message: string };

/** Identifies the caller of an HTTP request, or says why not (401, with the same words as gRPC). */
export function httpCallerAuth(auth: Pick<CallerAuth, "tokens" | "mutualTls">): (request: IncomingMessage) => HttpCaller {
  const match = auth.tokens ? tokenMatcher(auth.tokens) : undefined;
  return (request) => {
    let fromCert: string | undefined;
    if (auth.mutualTls) {
      const socket = request.socket as Partial<TLSSocket>;
      fromCert = socket.authorized ? callerFromCertificate(socket.getPeerCertificate?.()) : undefined;
      if (fromCert === undefined) return { ok: false, status: 401, message: "the client certificate names no caller" };
    }
    if (match) {
      const header = request.headers.authorization;
      const token = header ? /^Bearer +(\S+)$/i.exec(header.trim())?.[1] : undefined;
      const caller = token === undefined ? undefined : match(token);
      return caller === undefined ? { ok: false, status: 401, message: "missing or invalid bearer token" } : { ok: true, caller };
    }
    return { ok: true, caller: fromCert ?? ANONYMOUS_CALLER };
  };
}
