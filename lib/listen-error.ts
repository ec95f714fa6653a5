// A listener that cannot bind its address (the gRPC port, the metrics port): the address and the
// errno code, and what a person can do about each. The servers throw ListenError; the process's
// composition root names the setting (--listen, --metrics-listen) and exits with code 69.
import net from "node:net";
import { formatHostPort } from "./host-port.js";

export class ListenError extends Error {
  override readonly name = "ListenError";
  constructor(
    /** "127.0.0.1:50051". */
    readonly address: string,
    /** EADDRINUSE, EADDRNOTAVAIL, EACCES, ...; undefined when the cause did not say. */
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`cannot listen on ${address}: ${code ?? "unknown error"}`, options);
  }
}

/** What went wrong and what to do, for a person: "127.0.0.1:50051 is already in use: ...". */
export function describeListenError(error: ListenError, setting: { flag: string; env: string }): string {
  const choose = `choose another with ${setting.flag} HOST:PORT (or ${setting.env})`;
  switch (error.code) {
    case "EADDRINUSE":
      return `${error.address} is already in use (EADDRINUSE): stop what listens there (another smtp-probe?), or ${choose}`;
    case "EADDRNOTAVAIL":
      return `${error.address} is not an address of this machine (EADDRNOTAVAIL): use one of its addresses, 0.0.0.0 or [::] for all, or ${choose}`;
    case "EACCES":
    case "EPERM":
      return `${error.address}: not permitted (${error.code}; ports below 1024 need privileges): use a port from 1024 up, grant CAP_NET_BIND_SERVICE, or ${choose}`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `${error.address}: the host name does not resolve (${error.code}): give an IP address, or ${choose}`;
    default:
      return `cannot listen on ${error.address} (${error.code ?? (error.cause instanceof Error ? error.cause.message : "unknown error")}): ${choose}`;
  }
}

/**
 * Why host:port cannot be bound, asked of the kernel with a plain TCP listener (closed at once):
 * for libraries whose bind error has lost the errno code (grpc-js joins its errors into a message).
 * undefined when the address can be bound now.
 */
export function diagnoseListen(host: string, port: number, timeoutMs = 2_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    const timer = setTimeout(() => {
      server.close();
      resolve(undefined);
    }, timeoutMs);
    server.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code);
    });
    server.listen({ host, port, exclusive: true }, () => {
      clearTimeout(timer);
      server.close(() => resolve(undefined));
    });
  });
}

/** The ListenError for a failed bind of host:port whose own error had no code. */
export async function listenErrorFor(host: string, port: number, cause: unknown): Promise<ListenError> {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? (await diagnoseListen(host, port));
  return new ListenError(formatHostPort(host, port), code, { cause });
}
