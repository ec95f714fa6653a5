// A well-behaved SMTP server for integration tests: nodemailer's `smtp-server` on 127.0.0.1,
// port 0, with its switches mapped to what the probe needs to see. What each switch puts on
// the wire is pinned by test/integration/helpers/smtp-fixture.test.ts.
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import { testPki, type PemPair } from "./certs.js";
import { listenLoopback, withTimeout } from "./wait.js";

export type HideableExtension = "PIPELINING" | "8BITMIME" | "SMTPUTF8";
export type OptInExtension = "ENHANCEDSTATUSCODES" | "DSN" | "REQUIRETLS";

export interface SmtpFixtureOptions {
  /** Certificate for STARTTLS / implicit TLS; default: a test-PKI leaf for fixture.test, localhost, 127.0.0.1. */
  tls?: PemPair;
  /** "offered" (default): in EHLO and works; "hidden": works but not in EHLO; "disabled": 500 on STARTTLS. */
  starttls?: "offered" | "hidden" | "disabled";
  /** TLS from the first byte (port 465 style). */
  implicitTls?: boolean;
  /** Server name in the greeting and the first EHLO line; default "fixture.test". */
  name?: string;
  /** Text after "220 <name> ESMTP ". */
  banner?: string;
  /** Instead of the greeting: "<code> <message>" and close. */
  rejectConnection?: { code: 554 | 421; message: string };
  /** AUTH advertised (and accepted) before TLS. Default: AUTH appears only after TLS. */
  authBeforeTls?: boolean;
  /** AUTH mechanisms, default ["PLAIN", "LOGIN"]. */
  authMethods?: string[];
  /** Advertises "SIZE <n>". */
  size?: number;
  /** Extensions smtp-server shows by default, removed from EHLO. */
  hideEhloExtensions?: HideableExtension[];
  /** Extensions smtp-server hides by default, added to EHLO. */
  showEhloExtensions?: OptInExtension[];
  /** Further commands answered "500 5.5.2 Error: command not recognized" (e.g. "EHLO" to force HELO). */
  disabledCommands?: string[];
  /** Idle timeout of a client connection, default 5 s. */
  socketTimeoutMs?: number;
  /** Holds the greeting back this long after accepting (a slow server; connections pile up). */
  greetingDelayMs?: number;
  /** Passed to the server's TLS context, e.g. an old protocol: { maxVersion: "TLSv1", ciphers: "DEFAULT@SECLEVEL=0" }. */
  tlsOptions?: {
    minVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
    maxVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
    ciphers?: string;
    /** smtp-server's default is true: the server's own order. */
    honorCipherOrder?: boolean;
  };
}

export interface SmtpFixture {
  host: "127.0.0.1";
  port: number;
  /** TCP connections accepted so far. */
  connections(): number;
  /** The most TCP connections open at once so far. */
  peakConnections(): number;
  /** SNI names seen in completed TLS handshakes (undefined when the client sent none). */
  servernames(): (string | undefined)[];
  /** Errors smtp-server reported (client resets, failed handshakes): for debugging a test. */
  errors(): Error[];
  /** Presents this certificate from the next TLS handshake on (a renewal, on the same port). */
  useCertificate(pair: PemPair): void;
  stop(): Promise<void>;
}

const defaultName = "fixture.test";

async function defaultCertificate(): Promise<PemPair> {
  const pki = await testPki();
  return pki.leaf({ names: [defaultName, "localhost", "127.0.0.1"] });
}

export async function startSmtpFixture(opts: SmtpFixtureOptions = {}): Promise<SmtpFixture> {
  const starttls = opts.starttls ?? "offered";
  const cert = opts.tls ?? (await defaultCertificate());
  const baseDisabled = [...(opts.disabledCommands ?? [])];
  if (starttls === "disabled") {
    baseDisabled.push("STARTTLS");
  }
  // smtp-server advertises AUTH in plaintext too; a real MTA shows it only inside TLS. The
  // per-session list replaces the server-wide one, so AUTH is switched off on connect and back
  // on in onSecure (which runs after STARTTLS and, with implicit TLS, before the greeting).
  const plaintextDisabled = opts.authBeforeTls ? baseDisabled : [...baseDisabled, "AUTH"];

  const servernames: (string | undefined)[] = [];
  const errors: Error[] = [];
  let open = 0;
  let peak = 0;
  const rawSockets = new Set<Socket>();
  const tlsSockets = new Set<TLSSocket>();

  const options: SMTPServerOptions = {
    ...opts.tlsOptions,
    key: cert.keyPem,
    cert: cert.certPem,
    secure: opts.implicitTls ?? false,
    name: opts.name ?? defaultName,
    banner: opts.banner,
    size: opts.size,
    authMethods: opts.authMethods,
    allowInsecureAuth: opts.authBeforeTls ?? false,
    hideSTARTTLS: starttls === "hidden",
    disabledCommands: baseDisabled,
    disableReverseLookup: true,
    logger: false,
    socketTimeout: opts.socketTimeoutMs ?? 5_000,
    closeTimeout: 100,
    onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void): void {
      open += 1;
      peak = Math.max(peak, open);
      session.disabledCommands = [...plaintextDisabled];
      if (opts.rejectConnection) {
        const err: Error & { responseCode?: number } = new Error(opts.rejectConnection.message);
        err.responseCode = opts.rejectConnection.code;
        callback(err);
        return;
      }
      if (opts.greetingDelayMs) setTimeout(() => callback(), opts.greetingDelayMs);
      else callback();
    },
    // Open connections counted by smtp-server's own hooks: a "close" listener added to the raw
    // socket on "connection" did not fire when the client went (smtp-server 3.21).
    onClose(): void {
      open -= 1;
    },
    onSecure(_socket: Socket | TLSSocket, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
      servernames.push(session.servername || undefined);
      session.disabledCommands = [...baseDisabled];
      callback();
    },
  };
  for (const ext of opts.hideEhloExtensions ?? []) {
    setHideFlag(options, ext, true);
  }
  for (const ext of opts.showEhloExtensions ?? []) {
    setHideFlag(options, ext, false);
  }

  const server = new SMTPServer(options);
  server.on("error", (err: Error) => errors.push(err));
  const trackTls = (socket: Socket): void => {
    if (socket instanceof TLSSocket && !tlsSockets.has(socket)) {
      tlsSockets.add(socket);
      socket.once("close", () => tlsSockets.delete(socket));
    }
  };
  // Destroying a raw socket under a TLS socket crashes Node (SIGSEGV, seen with Node 20 and
  // smtp-server 3.21): stop() destroys the TLS socket on top first. Implicit-TLS handshakes in
  // flight are in server._pendingSockets; a STARTTLS socket is only reachable where the
  // connection arms its idle timer on it (_armTimeout; both are public in smtp-server's types).
  const connect = server.connect.bind(server);
  server.connect = (socket, socketOptions) => {
    trackTls(socket);
    const before = new Set(server.connections);
    connect(socket, socketOptions);
    for (const connection of server.connections) {
      if (before.has(connection)) continue;
      const arm = connection._armTimeout.bind(connection);
      connection._armTimeout = (armed?: Socket) => {
        if (armed) trackTls(armed);
        arm(armed);
      };
    }
  };
  let accepted = 0;
  server.server.on("connection", (socket: Socket) => {
    accepted += 1;
    rawSockets.add(socket);
    socket.once("close", () => rawSockets.delete(socket));
  });

  const port = await listenLoopback(server.server);

  let stopped: Promise<void> | undefined;
  return {
    host: "127.0.0.1",
    port,
    connections: () => accepted,
    peakConnections: () => peak,
    servernames: () => [...servernames],
    errors: () => [...errors],
    useCertificate(pair) {
      server.updateSecureContext({ key: pair.keyPem, cert: pair.certPem });
    },
    stop() {
      stopped ??= (async () => {
        const closed = waitForClose(server.server);
        // Not smtp-server's close(): called right after a connection was accepted on an
        // implicit-TLS listener, it destroys the raw socket before smtp-server wraps it in TLS
        // (one setImmediate later), and the wrap then crashes the process (SIGSEGV, Node 20).
        // So: stop accepting, let every accepted socket reach its TLS wrap, then destroy the
        // TLS sockets (pending handshakes and sessions) before the raw ones.
        server.server.close();
        await nextTurn();
        await nextTurn();
        for (const top of server._pendingSockets.values()) top.destroy();
        for (const socket of tlsSockets) socket.destroy();
        await nextTurn();
        for (const socket of rawSockets) socket.destroy();
        await withTimeout(closed, 2_000, "smtp fixture close");
      })();
      return stopped;
    },
  };
}

function setHideFlag(options: SMTPServerOptions, ext: HideableExtension | OptInExtension, hide: boolean): void {
  switch (ext) {
    case "PIPELINING":
      options.hidePIPELINING = hide;
      break;
    case "8BITMIME":
      options.hide8BITMIME = hide;
      break;
    case "SMTPUTF8":
      options.hideSMTPUTF8 = hide;
      break;
    case "ENHANCEDSTATUSCODES":
      options.hideENHANCEDSTATUSCODES = hide;
      break;
    case "DSN":
      options.hideDSN = hide;
      break;
    case "REQUIRETLS":
      options.hideREQUIRETLS = hide;
      break;
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function waitForClose(server: SMTPServer["server"]): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => server.once("close", () => resolve()));
}
