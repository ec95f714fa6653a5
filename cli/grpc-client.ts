import { connect as tlsConnect, checkServerIdentity, createSecureContext, type SecureContext } from "node:tls";
import { isIP } from "node:net";
import { CallCredentials, ChannelCredentials, credentials, Metadata, type ChannelOptions } from "@grpc/grpc-js";
import type { SecureConnector } from "@grpc/grpc-js/build/src/channel-credentials.js";
import { BatchServiceClient } from "../lib/batch-service-client.js";
import { MonitorServiceClient } from "../lib/monitor-service-client.js";
import { ProbeServiceClient } from "../lib/probe-service-client.js";
import { hostOfTarget } from "./coordinator-address.js";
import type { CoordinatorCredentials } from "./coordinator-credentials.js";

/**
 * A ProbeService client for the CLI: plaintext, or TLS when `--coordinator-ca` or a client
 * certificate is given (coordinator-credentials.ts). A report with every region's transcripts is
 * bigger than grpc-js's default 4 MiB receive limit, so the limit matches what the coordinator may
 * send (64 MiB).
 */
export function createProbeClient(target: string, auth: CoordinatorCredentials = {}): ProbeServiceClient {
  return new ProbeServiceClient(target, channelCredentials(target, auth), CLIENT_OPTIONS);
}

/** A BatchService client for `smtp-probe batch`, with the same credentials and bounds. */
export function createBatchClient(target: string, auth: CoordinatorCredentials = {}): BatchServiceClient {
  return new BatchServiceClient(target, channelCredentials(target, auth), CLIENT_OPTIONS);
}

/** A MonitorService client for `smtp-probe monitor`, with the same credentials and bounds. */
export function createMonitorClient(target: string, auth: CoordinatorCredentials = {}): MonitorServiceClient {
  return new MonitorServiceClient(target, channelCredentials(target, auth), CLIENT_OPTIONS);
}

const CLIENT_OPTIONS = { "grpc.max_receive_message_length": 64 * 1024 * 1024 };

function channelCredentials(target: string, auth: CoordinatorCredentials): ChannelCredentials {
  const tls = auth.tls;
  const host = hostOfTarget(target);
  if (!tls) return credentials.createInsecure();
  if (isIP(host) !== 0) return new IpAddressTlsCredentials(secureContextOf(tls), host);
  // A name: grpc-js sends it as SNI and checks the certificate against it.
  return credentials.createSsl(
    tls.caPem === undefined ? null : Buffer.from(tls.caPem),
    tls.client ? Buffer.from(tls.client.keyPem) : null,
    tls.client ? Buffer.from(tls.client.certPem) : null,
  );
}

function secureContextOf(tls: NonNullable<CoordinatorCredentials["tls"]>): SecureContext {
  // No ca: Node's own store, as grpc-js's createSsl without root certificates.
  return createSecureContext({ ca: tls.caPem, cert: tls.client?.certPem, key: tls.client?.keyPem });
}

/**
 * TLS to a coordinator named by its IP address. grpc-js always sets the TLS servername to the
 * target's host, and an IP address there is what RFC 6066 §3 forbids (SNI carries host names
 * only): Node warns (DEP0123) on every call. So the connection is made here, as grpc-js makes it
 * (ALPN h2, the certificate verified), with no servername, and the certificate checked against the
 * address itself (its IP SAN).
 */
class IpAddressTlsCredentials extends ChannelCredentials {
  constructor(
    private readonly secureContext: SecureContext,
    private readonly address: string,
  ) {
    super();
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(_target: unknown, _options: ChannelOptions, callCredentials?: CallCredentials): SecureConnector {
    const { secureContext, address } = this;
    const perCall = callCredentials ?? CallCredentials.createEmpty();
    return {
      connect: (socket) =>
        new Promise((resolve, reject) => {
          const tlsSocket = tlsConnect(
            { socket, secureContext, ALPNProtocols: ["h2"], checkServerIdentity: (_name, cert) => checkServerIdentity(address, cert) },
            () => {
              if (!tlsSocket.authorized) reject(tlsSocket.authorizationError);
              else resolve({ socket: tlsSocket, secure: true });
            },
          );
          tlsSocket.on("error", reject);
        }),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => perCall,
      destroy: () => undefined,
    };
  }
}

/** The metadata of every call: `authorization: Bearer <token>` when a token is given. */
export function callMetadata(auth: CoordinatorCredentials = {}): Metadata {
  const metadata = new Metadata();
  if (auth.token !== undefined) metadata.set("authorization", `Bearer ${auth.token}`);
  return metadata;
}
